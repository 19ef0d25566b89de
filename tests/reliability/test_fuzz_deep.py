"""Deep fuzzing of each channel-trace reader and the payload decoder (issue 16).

The quick property tests next to the readers (``tests/channels/test_properties.py``,
``tests/engine/test_codec.py``) draw a format at random with a few dozen
examples. Here, in the full suite only (``slow``), every reader gets the
profile's whole per-parser budget (10,000 examples) on its own, from the same
strategies: random bytes, random CSV with random column mappings, a
plausible prefix then garbage, and (native HDF5) random file structures. The
payload decoder gets the budget split over random bytes and mutated payloads.
The outcome is always a valid trace / decode or the documented error.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.channels import test_properties as channel_props
from tests.conftest import fuzz_settings
from tests.engine import test_codec as codec_props

pytestmark = pytest.mark.slow

_PREFIXES = [b"\x89HDF\r\n\x1a\n", b"time_s,snr_db\n", b"1\n", b"0 1\n", b"time_s,Mbit/s\n",
             b"Timestamp,SNR\n"]
_contents = st.one_of(
    st.binary(max_size=300),
    channel_props.random_csv().map(lambda text: text.encode("utf-8")),
    st.tuples(st.sampled_from(_PREFIXES), st.binary(max_size=200)).map(b"".join),
)


def _reader_test(fmt: str, share: int) -> object:
    @fuzz_settings(share=share)
    @given(content=_contents, columns=st.sampled_from(channel_props.MAPPINGS))
    def fuzz(content: bytes, columns: object) -> None:
        suffix = ".h5" if fmt == "native_h5" else ".csv"
        channel_props._roundtrip(content, suffix, fmt, columns)

    return fuzz


test_native_csv_reader = _reader_test("native_csv", 1)
test_throughput_reader = _reader_test("throughput", 1)
test_mahimahi_reader = _reader_test("mahimahi", 1)
test_drive_test_reader = _reader_test("drive_test", 1)
# native HDF5: half random bytes, half valid HDF5 files of random structure.
test_native_h5_reader_bytes = _reader_test("native_h5", 2)
test_native_h5_reader_structures = fuzz_settings(share=2)(
    given(spec=channel_props.random_h5())(
        channel_props.test_random_hdf5_structures.hypothesis.inner_test))

test_payload_decoder_random_bytes = fuzz_settings(share=2)(
    given(st.binary(max_size=400))(
        codec_props.test_random_bytes_only_raise_payload_error.hypothesis.inner_test))
test_payload_decoder_mutations = fuzz_settings(share=2)(
    given(which=st.integers(0, len(codec_props._VALID) - 1),
          edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1,
                         max_size=6),
          cut=st.integers(0, 10**6), reseal=st.booleans())(
        codec_props.test_mutated_payloads_only_raise_payload_error.hypothesis.inner_test))


def test_every_reader_format_has_a_deep_test() -> None:
    names = {n for n in globals() if n.startswith("test_") and n.endswith(("_reader",
                                                                          "_reader_bytes"))}
    assert {n.removeprefix("test_").removesuffix("_bytes").removesuffix("_reader")
            for n in names} == set(channel_props.FORMATS)
