"""The excerpt: which lines a report shows, with their true streams and numbers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lognotify.capture import STDERR, STDOUT, Capture
from lognotify.excerpt import excerpt, kept

# Lines of one stream each (a capture keeps a line whole, with the stream that wrote it).
lines = st.lists(
    st.tuples(
        st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")),
        st.sampled_from([STDOUT, STDERR]),
    ),
    max_size=120,
)


def captured(parts: list[tuple[bytes, int]], max_bytes: int, *, ending: bool = True) -> Capture:
    capture = Capture(max_bytes)
    for index, (text, stream) in enumerate(parts):
        last = index == len(parts) - 1
        capture.append(text + (b"" if last and not ending else b"\n"), stream)
    return capture


@settings(max_examples=300, deadline=None)
@given(
    parts=lines,
    max_bytes=st.integers(min_value=0, max_value=3000),
    head_lines=st.integers(min_value=0, max_value=30),
    tail_lines=st.integers(min_value=0, max_value=30),
    ending=st.booleans(),
)
def test_every_shown_line_is_a_whole_line_with_its_true_stream_and_number(
    parts: list[tuple[bytes, int]], max_bytes: int, head_lines: int, tail_lines: int, ending: bool
) -> None:
    # an empty unterminated last line is no line at all: leave that case out
    if parts and not ending and not parts[-1][0]:
        parts, ending = parts[:-1], True
    part = excerpt(
        captured(parts, max_bytes, ending=ending).snapshot(),
        head_lines=head_lines,
        tail_lines=tail_lines,
        head_bytes=500,
        tail_bytes=900,
    )
    shown = part.head + part.tail
    numbers = [line.number for line in shown]
    assert numbers == sorted(set(numbers)), "each line once, in order"
    for line in shown:
        text, stream = parts[line.number - 1]
        assert line.stream == stream
        if line.raw != text:
            # A first line too long for the head keeps its first words; a last line too long
            # for the tail its last ones. No other line is ever shown in part.
            first_words = (
                bool(part.head)
                and line is part.head[-1]
                and line.number == 1
                and text.startswith(line.raw)
            )
            last_words = bool(part.tail) and line is part.tail[0] and line.number == len(parts)
            assert first_words or (last_words and text.endswith(line.raw)), (line, text)
    assert len(part.head) <= head_lines
    assert len(part.tail) <= tail_lines
    assert part.total_lines == len(parts)
    if part.head and part.tail:
        assert part.head[-1].number < part.tail[0].number


@settings(max_examples=300, deadline=None)
@given(parts=lines, max_bytes=st.integers(min_value=0, max_value=3000), ending=st.booleans())
def test_shown_and_omitted_add_up_to_the_whole_output(
    parts: list[tuple[bytes, int]], max_bytes: int, ending: bool
) -> None:
    if parts and not ending and not parts[-1][0]:
        parts, ending = parts[:-1], True
    snapshot = captured(parts, max_bytes, ending=ending).snapshot()
    part = excerpt(snapshot, head_lines=7, tail_lines=9)
    shown = part.head + part.tail
    unterminated = bool(parts) and not ending
    final_shown = bool(shown) and shown[-1].number == len(parts)
    size = sum(len(line.raw) + 1 for line in shown) - (unterminated and final_shown)
    assert size + part.omitted_bytes == snapshot.total_bytes
    # a last line without its newline, left out, adds no newline to the omitted count
    assert len(shown) + part.omitted_lines + (unterminated and not final_shown) == len(parts)


def test_tail_lines_written_to_stderr_are_tagged_stderr_when_the_output_fits() -> None:
    # seq 150; echo 'disk quota reached' >&2: more lines than the head shows, all kept
    capture = Capture(1 << 20)
    for number in range(1, 151):
        capture.append(b"%d\n" % number)
    capture.append(b"disk quota reached\n", STDERR)
    part = excerpt(capture.snapshot())
    last = part.tail[-1]
    assert (last.raw, last.stream, last.number) == (b"disk quota reached", STDERR, 151)
    assert all(line.stream == STDOUT for line in part.head + part.tail[:-1])


def test_a_line_cut_where_output_was_left_out_is_not_shown() -> None:
    capture = Capture(1000)
    capture.append(b"postgres://etl:" + b"x" * 2000 + b"@db/x\n")
    capture.append(b"".join(b"line %d\n" % n for n in range(300)))
    snapshot = capture.snapshot()
    part = kept(snapshot)
    assert not part.head  # the head was one cut line: gone, counted
    assert part.tail.startswith(b"line ")
    assert part.omitted_bytes == snapshot.total_bytes - len(part.tail)
