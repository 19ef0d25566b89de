// Matched single-cell LTE uplink for the cosim vs ns-3 LENA comparison.
//
// One eNB at the origin, N static UEs on a line at d_i = 50 + 450 i / (N - 1) m,
// 20 MHz FDD (100 RBs, UL EARFCN 18100 = 1930 MHz, band 1), log-distance path loss
// PL = 38.2 + 30 log10(d) dB, no fading, no shadowing, UE transmit power fixed at
// 23 dBm (uplink power control off), ideal RRC, saturated uplink.
//
// Two ways to saturate the uplink (--mode):
//   udp  EPC + one UdpClient per UE sending faster than its share of the cell can
//        carry, counted by a PacketSink on a remote host (UDP payload bytes).
//   sm   no EPC, RLC saturation mode (LteRlcSm): the UE RLC always reports a full
//        buffer and fills every grant; counted as correctly decoded TB bytes.
// --ulCqi picks the UL-CQI the scheduler's MCS choice uses: pusch (default here) or
// srs (LENA's default FfMacScheduler::UlCqiFilter); README.md explains the difference.
// Either way the eNB PHY's UlPhyReception trace gives per-UE MAC statistics
// (TBs, HARQ errors, MCS, TB size). Only the window after --warmup counts.
//
// Output: CSV (one row per UE, '#' comment lines carry configuration and wall time).
// Build: see benchmarks/vs_ns3/compare.py (g++ against Debian's libns3-dev 3.37).

#include <ns3/applications-module.h>
#include <ns3/core-module.h>
#include <ns3/internet-module.h>
#include <ns3/lte-module.h>
#include <ns3/mobility-module.h>
#include <ns3/network-module.h>
#include <ns3/point-to-point-module.h>

#include <chrono>
#include <ctime>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <map>
#include <vector>

using namespace ns3;

namespace
{

struct UeMacStats
{
    uint64_t tbs = 0;          // first transmissions (ndi = 1) seen after warm-up
    uint64_t receptions = 0;   // all TB receptions, retransmissions included
    uint64_t errors = 0;       // receptions that failed to decode
    uint64_t okBytes = 0;      // bytes of correctly decoded TBs
    uint64_t mcsSum = 0;       // sum of MCS over receptions
    uint64_t sizeSum = 0;      // sum of TB size [bytes] over receptions
};

double g_warmupS = 0.0;
std::map<uint16_t, UeMacStats> g_macByRnti;

void
UlPhyReception(PhyReceptionStatParameters p)
{
    if (Simulator::Now().GetSeconds() < g_warmupS)
    {
        return;
    }
    UeMacStats& s = g_macByRnti[p.m_rnti];
    s.receptions++;
    s.mcsSum += p.m_mcs;
    s.sizeSum += p.m_size;
    if (p.m_ndi)
    {
        s.tbs++;
    }
    if (p.m_correctness)
    {
        s.okBytes += p.m_size;
    }
    else
    {
        s.errors++;
    }
}

std::map<uint16_t, uint64_t> g_rlcRxByRnti; // sm mode: RLC PDU bytes at the eNB

// udp mode: a slow UE gets only a few 1500-byte packets per second, so counting whole
// packets in a fixed window is off by up to one packet at each end. Instead the rate
// is the bytes of packets 2..m in the window over the time from packet 1 to packet m.
struct SinkWindow
{
    bool started = false;
    double firstS = 0.0;
    double lastS = 0.0;
    uint64_t bytesAfterFirst = 0;
    uint64_t packets = 0;
};

std::vector<SinkWindow> g_sinkWindows;

void
SinkRx(uint32_t ue, Ptr<const Packet> packet, const Address& /*from*/)
{
    double now = Simulator::Now().GetSeconds();
    if (now < g_warmupS)
    {
        return;
    }
    SinkWindow& w = g_sinkWindows[ue];
    w.packets++;
    if (!w.started)
    {
        w.started = true;
        w.firstS = now;
    }
    else
    {
        w.bytesAfterFirst += packet->GetSize();
    }
    w.lastS = now;
}

void
EnbRlcRx(uint16_t rnti, uint8_t /*lcid*/, uint32_t bytes, uint64_t /*delay*/)
{
    if (Simulator::Now().GetSeconds() >= g_warmupS)
    {
        g_rlcRxByRnti[rnti] += bytes;
    }
}

} // namespace

int
main(int argc, char* argv[])
{
    auto t0 = std::chrono::steady_clock::now();
    uint32_t nUes = 10;
    std::string mode = "udp";
    double warmupS = 1.0;
    double measureS = 1.0;
    std::string scheduler = "ns3::PfFfMacScheduler";
    uint32_t srsPeriodicity = 160;
    uint32_t udpPayloadBytes = 1472; // 1500-byte IP packets
    std::string ulCqi = "pusch";
    double cqiSwitchS = 0.3;
    std::string out = "ns3_uplink.csv";

    CommandLine cmd(__FILE__);
    cmd.AddValue("n", "number of UEs", nUes);
    cmd.AddValue("mode", "udp (EPC + UDP) or sm (no EPC, RLC saturation mode)", mode);
    cmd.AddValue("warmup", "seconds excluded at the start", warmupS);
    cmd.AddValue("measure", "seconds measured after the warm-up", measureS);
    cmd.AddValue("scheduler", "FF MAC scheduler TypeId", scheduler);
    cmd.AddValue("srsPeriodicity", "SRS periodicity [ms] (must exceed the UE count)",
                 srsPeriodicity);
    cmd.AddValue("udpPayload", "UDP payload bytes per packet (udp mode)", udpPayloadBytes);
    cmd.AddValue("ulCqi",
                 "UL-CQI the scheduler picks the MCS from: pusch (SINR of the UE's own PUSCH, "
                 "power split over its RBs) or srs (LENA default: full-band SRS at full power)",
                 ulCqi);
    cmd.AddValue("cqiSwitch", "time [s] at which --ulCqi=pusch switches from SRS to PUSCH CQI",
                 cqiSwitchS);
    cmd.AddValue("out", "output CSV", out);
    cmd.Parse(argc, argv);
    NS_ABORT_MSG_IF(nUes < 2, "n must be >= 2");
    NS_ABORT_MSG_IF(mode != "udp" && mode != "sm", "mode must be udp or sm");
    NS_ABORT_MSG_IF(ulCqi != "pusch" && ulCqi != "srs", "ulCqi must be pusch or srs");
    NS_ABORT_MSG_IF(ulCqi == "pusch" && cqiSwitchS >= warmupS,
                    "cqiSwitch must come before the end of the warm-up");
    g_warmupS = warmupS;

    // ---- the matched scenario ------------------------------------------------------
    Config::SetDefault("ns3::LteEnbNetDevice::UlBandwidth", UintegerValue(100));
    Config::SetDefault("ns3::LteEnbNetDevice::DlBandwidth", UintegerValue(100));
    Config::SetDefault("ns3::LteEnbNetDevice::UlEarfcn", UintegerValue(18100)); // 1930 MHz
    Config::SetDefault("ns3::LteEnbNetDevice::DlEarfcn", UintegerValue(100));   // 2120 MHz
    Config::SetDefault("ns3::LteUePhy::TxPower", DoubleValue(23.0));
    Config::SetDefault("ns3::LteUePhy::EnableUplinkPowerControl", BooleanValue(false));
    Config::SetDefault("ns3::LteEnbPhy::NoiseFigure", DoubleValue(5.0));
    Config::SetDefault("ns3::LteUePhy::NoiseFigure", DoubleValue(9.0));
    Config::SetDefault("ns3::LteEnbRrc::SrsPeriodicity", UintegerValue(srsPeriodicity));
    Config::SetDefault("ns3::LteHelper::UseIdealRrc", BooleanValue(true));
    // Link adaptation starts on SRS in both variants: with PUSCH_UL_CQI from t = 0 a UE
    // with no PUSCH measurement yet gets MCS 0, which on 3 RBs is a 7-byte grant, and
    // LteUeMac only serves a TxOpportunity of more than 7 bytes, so for N > 33 (3 RBs
    // each) no UE ever sends PUSCH and none is ever measured. --ulCqi=pusch switches the
    // scheduler to PUSCH_UL_CQI at --cqiSwitch (see README.md).
    Config::SetDefault("ns3::FfMacScheduler::UlCqiFilter", EnumValue(FfMacScheduler::SRS_UL_CQI));
    Config::SetDefault("ns3::LteHelper::UsePdschForCqiGeneration", BooleanValue(true));
    if (mode == "sm")
    {
        Config::SetDefault("ns3::LteEnbRrc::EpsBearerToRlcMapping",
                           EnumValue(LteEnbRrc::RLC_SM_ALWAYS));
    }
    else
    {
        Config::SetDefault("ns3::LteEnbRrc::EpsBearerToRlcMapping",
                           EnumValue(LteEnbRrc::RLC_UM_ALWAYS));
        // Deep enough that the UE's RLC never runs dry between UDP packets.
        Config::SetDefault("ns3::LteRlcUm::MaxTxBufferSize", UintegerValue(100 * 1024));
    }

    Ptr<LteHelper> lte = CreateObject<LteHelper>();
    lte->SetAttribute("PathlossModel", StringValue("ns3::LogDistancePropagationLossModel"));
    lte->SetPathlossModelAttribute("Exponent", DoubleValue(3.0));
    lte->SetPathlossModelAttribute("ReferenceDistance", DoubleValue(1.0));
    lte->SetPathlossModelAttribute("ReferenceLoss", DoubleValue(38.2));
    lte->SetSchedulerType(scheduler);
    // no FadingModel set: LENA then applies no fast fading; no shadowing model either

    Ptr<PointToPointEpcHelper> epc;
    if (mode == "udp")
    {
        epc = CreateObject<PointToPointEpcHelper>();
        lte->SetEpcHelper(epc);
    }

    NodeContainer enbNodes;
    enbNodes.Create(1);
    NodeContainer ueNodes;
    ueNodes.Create(nUes);

    std::vector<double> dist(nUes);
    Ptr<ListPositionAllocator> pos = CreateObject<ListPositionAllocator>();
    pos->Add(Vector(0.0, 0.0, 0.0));
    for (uint32_t i = 0; i < nUes; ++i)
    {
        dist[i] = 50.0 + 450.0 * i / (nUes - 1);
    }
    MobilityHelper mob;
    mob.SetMobilityModel("ns3::ConstantPositionMobilityModel");
    mob.SetPositionAllocator(pos);
    mob.Install(enbNodes);
    Ptr<ListPositionAllocator> uePos = CreateObject<ListPositionAllocator>();
    for (uint32_t i = 0; i < nUes; ++i)
    {
        uePos->Add(Vector(dist[i], 0.0, 0.0));
    }
    mob.SetPositionAllocator(uePos);
    mob.Install(ueNodes);

    NetDeviceContainer enbDevs = lte->InstallEnbDevice(enbNodes);
    NetDeviceContainer ueDevs = lte->InstallUeDevice(ueNodes);

    std::vector<Ptr<PacketSink>> sinks(nUes);
    g_sinkWindows.assign(nUes, SinkWindow());
    if (mode == "udp")
    {
        Ptr<Node> pgw = epc->GetPgwNode();
        NodeContainer remote;
        remote.Create(1);
        InternetStackHelper internet;
        internet.Install(remote);
        PointToPointHelper p2p;
        p2p.SetDeviceAttribute("DataRate", DataRateValue(DataRate("100Gb/s")));
        p2p.SetDeviceAttribute("Mtu", UintegerValue(1500));
        p2p.SetChannelAttribute("Delay", TimeValue(MilliSeconds(1)));
        NetDeviceContainer inetDevs = p2p.Install(pgw, remote.Get(0));
        Ipv4AddressHelper ipv4h;
        ipv4h.SetBase("1.0.0.0", "255.0.0.0");
        Ipv4InterfaceContainer inetIfs = ipv4h.Assign(inetDevs);
        Ipv4Address remoteAddr = inetIfs.GetAddress(1);
        Ipv4StaticRoutingHelper routing;
        Ptr<Ipv4StaticRouting> remoteRouting =
            routing.GetStaticRouting(remote.Get(0)->GetObject<Ipv4>());
        remoteRouting->AddNetworkRouteTo(Ipv4Address("7.0.0.0"), Ipv4Mask("255.0.0.0"), 1);

        internet.Install(ueNodes);
        Ipv4InterfaceContainer ueIfs = epc->AssignUeIpv4Address(ueDevs);
        for (uint32_t i = 0; i < nUes; ++i)
        {
            Ptr<Ipv4StaticRouting> ueRouting =
                routing.GetStaticRouting(ueNodes.Get(i)->GetObject<Ipv4>());
            ueRouting->SetDefaultRoute(epc->GetUeDefaultGatewayAddress(), 1);
        }
        lte->Attach(ueDevs, enbDevs.Get(0));

        // Offered load per UE: 1.5x the most its share could carry at the top MCS
        // (TBS 75376 bit per ms on 100 RBs), so every UE stays backlogged.
        uint32_t rbPerFlow = std::max<uint32_t>(3, 100 / nUes);
        double servedFrac = std::min(1.0, double(100 / rbPerFlow) / nUes);
        double capBps = 75376e3 * rbPerFlow / 100.0 * servedFrac;
        double pktPerS = 1.5 * capBps / (8.0 * (udpPayloadBytes + 28));
        Time interval = Seconds(1.0 / pktPerS);
        for (uint32_t i = 0; i < nUes; ++i)
        {
            uint16_t port = 10000 + i;
            PacketSinkHelper sinkHelper("ns3::UdpSocketFactory",
                                        InetSocketAddress(Ipv4Address::GetAny(), port));
            ApplicationContainer sinkApp = sinkHelper.Install(remote.Get(0));
            sinks[i] = DynamicCast<PacketSink>(sinkApp.Get(0));
            sinks[i]->TraceConnectWithoutContext("Rx", MakeBoundCallback(&SinkRx, i));
            UdpClientHelper client(remoteAddr, port);
            client.SetAttribute("MaxPackets", UintegerValue(4294967295U));
            client.SetAttribute("Interval", TimeValue(interval));
            client.SetAttribute("PacketSize", UintegerValue(udpPayloadBytes));
            ApplicationContainer clientApp = client.Install(ueNodes.Get(i));
            clientApp.Start(MilliSeconds(100));
        }
    }
    else
    {
        lte->Attach(ueDevs, enbDevs.Get(0));
        EpsBearer bearer(EpsBearer::NGBR_VIDEO_TCP_DEFAULT);
        lte->ActivateDataRadioBearer(ueDevs, bearer);
    }

    Ptr<LteEnbNetDevice> enb = DynamicCast<LteEnbNetDevice>(enbDevs.Get(0));
    if (ulCqi == "pusch")
    {
        Ptr<ComponentCarrierEnb> cc = DynamicCast<ComponentCarrierEnb>(enb->GetCcMap().at(0));
        Ptr<FfMacScheduler> sched = cc->GetFfMacScheduler();
        Simulator::Schedule(Seconds(cqiSwitchS), [sched]() {
            sched->SetAttribute("UlCqiFilter", EnumValue(FfMacScheduler::PUSCH_UL_CQI));
        });
    }
    enb->GetPhy()->GetUlSpectrumPhy()->TraceConnectWithoutContext(
        "UlPhyReception", MakeCallback(&UlPhyReception));
    if (mode == "sm")
    {
        // The bearers exist only once RRC has set them up; connect at the end of warm-up.
        Simulator::Schedule(Seconds(warmupS), []() {
            Config::ConnectWithoutContext(
                "/NodeList/*/DeviceList/*/LteEnbRrc/UeMap/*/DataRadioBearerMap/*/LteRlc/RxPDU",
                MakeCallback(&EnbRlcRx));
        });
    }

    Simulator::Stop(Seconds(warmupS + measureS));
    auto t1 = std::chrono::steady_clock::now();
    std::clock_t c1 = std::clock();
    Simulator::Run();
    std::clock_t c2 = std::clock();
    auto t2 = std::chrono::steady_clock::now();

    std::ofstream f(out);
    double setupS = std::chrono::duration<double>(t1 - t0).count();
    double runS = std::chrono::duration<double>(t2 - t1).count();
    // CPU time as well: on a shared machine the wall time depends on the neighbours.
    double cpuRunS = double(c2 - c1) / CLOCKS_PER_SEC;
    f << "# ns-3 LENA matched uplink; ns-3 version 3.37 (Debian libns3-dev)\n";
    f << "# mode=" << mode << " n=" << nUes << " warmup_s=" << warmupS
      << " measure_s=" << measureS << " scheduler=" << scheduler
      << " ul_cqi=" << ulCqi
      << " cqi_switch_s=" << (ulCqi == "pusch" ? cqiSwitchS : 0.0) << " srs_periodicity_ms=" << srsPeriodicity << " udp_payload_bytes=" << udpPayloadBytes
      << "\n";
    f << "# wall_setup_s=" << setupS << " wall_run_s=" << runS << " cpu_run_s=" << cpuRunS
      << "\n";
    f << "ue,distance_m,imsi,rnti,throughput_bps,mac_ok_bps,udp_packets,first_tx_tbs,"
         "receptions,tb_errors,mean_mcs,mean_tb_bytes\n";
    f << std::setprecision(10);
    for (uint32_t i = 0; i < nUes; ++i)
    {
        Ptr<LteUeNetDevice> ue = DynamicCast<LteUeNetDevice>(ueDevs.Get(i));
        uint16_t rnti = ue->GetRrc()->GetRnti();
        UeMacStats s = g_macByRnti[rnti];
        double thrBps;
        if (mode == "udp")
        {
            const SinkWindow& w = g_sinkWindows[i];
            thrBps = w.lastS > w.firstS ? 8.0 * w.bytesAfterFirst / (w.lastS - w.firstS) : 0.0;
        }
        else
        {
            thrBps = 8.0 * g_rlcRxByRnti[rnti] / measureS;
        }
        double macBps = 8.0 * s.okBytes / measureS;
        double meanMcs = s.receptions ? double(s.mcsSum) / s.receptions : NAN;
        double meanTb = s.receptions ? double(s.sizeSum) / s.receptions : NAN;
        f << i << "," << dist[i] << "," << ue->GetImsi() << "," << rnti << "," << thrBps << ","
          << macBps << "," << (mode == "udp" ? g_sinkWindows[i].packets : 0) << "," << s.tbs << "," << s.receptions << "," << s.errors << "," << meanMcs
          << "," << meanTb << "\n";
    }
    f.close();
    std::cout << "n=" << nUes << " mode=" << mode << " wall_setup_s=" << setupS
              << " wall_run_s=" << runS << " cpu_run_s=" << cpuRunS << " -> " << out << std::endl;
    Simulator::Destroy();
    return 0;
}
