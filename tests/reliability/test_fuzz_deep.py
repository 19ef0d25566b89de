"""Deep fuzzing of each channel-trace reader and the payload decoder (issue 16).

The quick property tests next to the readers (``tests/channels/test_properties.py``,
``tests/engine/test_codec.py``) draw a format at random with a few dozen
examples. Here, in the full suite only (``slow``), every reader gets the
profile's whole per-parser budget (10,000 examples), from the same strategies:
random bytes, random CSV with random column mappings, a plausible prefix then
garbage; each drawn input goes to all five readers (drawing costs more than
reading). Native HDF5 also gets half a budget of valid files of random
structure. The payload decoder gets the budget split over random bytes and
mutated payloads.
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


def _every_reader(content: bytes, columns: object) -> None:
    """The same bytes through every reader (HDF5 under ``.h5``, the rest under ``.csv``)."""
    for fmt in channel_props.FORMATS:
        suffix = ".h5" if fmt == "native_h5" else ".csv"
        channel_props._roundtrip(content, suffix, fmt, columns)


# Drawing an input costs several times more than reading it, so every input goes to
# every reader: each reader sees the whole per-parser budget, drawn once. The budget
# is split over shards only so that parallel workers share the load.
READER_SHARDS = 4


def _reader_shard() -> object:
    @fuzz_settings(share=READER_SHARDS)
    @given(content=_contents, columns=st.sampled_from(channel_props.MAPPINGS))
    def fuzz(content: bytes, columns: object) -> None:
        _every_reader(content, columns)

    return fuzz


test_every_reader_shard_1 = _reader_shard()
test_every_reader_shard_2 = _reader_shard()
test_every_reader_shard_3 = _reader_shard()
test_every_reader_shard_4 = _reader_shard()

# native HDF5 also gets valid HDF5 files of random structure (half a budget more).
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


def test_the_shards_cover_the_budget() -> None:
    shards = [n for n in globals() if n.startswith("test_every_reader_shard_")]
    assert len(shards) == READER_SHARDS
