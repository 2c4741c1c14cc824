"""Progress on stderr for the long simulator commands: ``simulate --out``, ``replay`` and ``load``.

rich progress bars while stderr is an interactive terminal, nothing otherwise, so piped output,
log files and CI stay clean; each command's result line goes to stdout either way. The simulators
report through callbacks (``on_sent``) and know nothing of rich.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from schemas.topics import RAW_TOPICS
from simulators.recording import message_kind
from simulators.sim_event import SimEvent


def progress_console() -> Console:
    """Where progress goes: stderr (stdout carries the results)."""
    return Console(stderr=True, highlight=False)


def _progress(console: Console, *columns: str | ProgressColumn) -> Progress:
    return Progress(
        *columns,
        console=console,
        disable=not console.is_interactive,
        refresh_per_second=8,
    )


class _MessagesPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:,.0f} msg/s", style="progress.data.speed")


@contextmanager
def simulate_progress(
    description: str, console: Console | None = None
) -> Iterator[Callable[[int, int], None]]:
    """A bar while ``simulate --out`` runs; yields the ``on_progress(done, total)`` callback
    (events converted to HL7 out of all emitted)."""
    with _progress(
        console or progress_console(),
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ) as progress:
        task = progress.add_task(description, total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield advance


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


class _ReplayDisplay(Progress):
    """The bars, then a line saying what was sent last."""

    latest: Text | None = None

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        if self.latest is not None:
            yield self.latest


class ReplayProgress:
    """``replay``: a bar for the recording and one per topic (``replay --hl7``: per feed); at a
    real pace (``speed > 0``) also the simulated time, topic, message kind and note of the
    message sent last.

    Use as a context manager and pass :meth:`sent` as the publisher's ``on_sent``.
    """

    def __init__(
        self,
        events: Sequence[SimEvent],
        *,
        speed: float,
        console: Console | None = None,
        kind_of: Callable[[bytes], str] = message_kind,
    ) -> None:
        """``kind_of`` names a message for the line at a pace (the event kind of a JSON message;
        ``replay --hl7`` gives the HL7 message type and event)."""
        console = console or progress_console()
        self._kind_of = kind_of
        self._display = _ReplayDisplay(
            TextColumn("{task.description:<16}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=not console.is_interactive,
            refresh_per_second=8,
        )
        self._paced = speed > 0
        self._end_s = max((e.offset_s for e in events), default=0.0)
        self._all = self._display.add_task("all topics", total=len(events))
        counts = Counter(e.topic for e in events)
        order = [spec.name for spec in RAW_TOPICS if spec.name in counts]
        order += sorted(set(counts) - set(order))
        self._topics: dict[str, TaskID] = {
            topic: self._display.add_task(f"  {topic}", total=counts[topic]) for topic in order
        }

    def __enter__(self) -> ReplayProgress:
        self._display.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._display.stop()

    def sent(self, event: SimEvent) -> None:
        self._display.advance(self._all)
        self._display.advance(self._topics[event.topic])
        if self._paced:
            note = f"  ({event.note})" if event.note else ""
            self._display.latest = Text.assemble(
                ("sent ", "dim"),
                f"t+{_clock(event.offset_s)} of {_clock(self._end_s)}  ",
                (event.topic, "cyan"),
                "  ",
                (self._kind_of(event.value), "bold"),
                (note, "dim"),
            )


class LoadProgress:
    """``load``: messages acknowledged out of those planned, and the rate.

    Use as a context manager and pass :meth:`sent` as the load generator's ``on_sent``.
    """

    def __init__(self, planned: int, console: Console | None = None) -> None:
        self._display = _progress(
            console or progress_console(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _MessagesPerSecond(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        self._task = self._display.add_task("load", total=planned)

    def __enter__(self) -> LoadProgress:
        self._display.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._display.stop()

    def sent(self, count: int) -> None:
        self._display.advance(self._task, count)
