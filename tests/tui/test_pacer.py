"""The frame pacer holds the UI's CPU near its budget: cheap frames come fast, costly ones slow down;
the text waits for a frame in an IncomingText, which wakes the UI once a batch, not once a token."""

import threading

from opencoder_local.tui.pacer import FramePacer, IncomingText


class Clocks:
    def __init__(self):
        self.wall = self.cpu = 0.0


def run_frames(pacer: FramePacer, clocks: Clocks, frame_cpu: float, frames: int = 40) -> None:
    """Text arrives every 10 ms; each frame shown costs `frame_cpu` seconds of CPU."""
    shown = 0
    while shown < frames:
        clocks.wall += 0.010
        if pacer.due():
            clocks.cpu += frame_cpu
            pacer.shown()
            shown += 1


def make(budget=0.10):
    clocks = Clocks()
    return FramePacer(budget=budget, fastest=1 / 30, slowest=0.5, clock=lambda: clocks.wall,
                      cpu=lambda: clocks.cpu), clocks


def test_cheap_frames_stay_at_the_fastest_rate():
    pacer, clocks = make()
    run_frames(pacer, clocks, frame_cpu=0.001)
    assert pacer.interval == 1 / 30


def test_costly_frames_slow_down_until_the_cpu_budget_holds():
    pacer, clocks = make()
    run_frames(pacer, clocks, frame_cpu=0.020)  # 20 ms a frame: 10% of a core at 5 frames/s
    assert 0.15 <= pacer.interval <= 0.25
    start_wall, start_cpu = clocks.wall, clocks.cpu
    run_frames(pacer, clocks, frame_cpu=0.020)
    assert (clocks.cpu - start_cpu) / (clocks.wall - start_wall) <= 0.10 * 1.2


def test_the_interval_never_passes_the_slowest_rate_and_recovers_when_frames_get_cheap():
    pacer, clocks = make()
    run_frames(pacer, clocks, frame_cpu=0.5)
    assert pacer.interval == 0.5
    run_frames(pacer, clocks, frame_cpu=0.0005, frames=60)
    assert pacer.interval == 1 / 30


def test_incoming_text_wakes_once_a_batch_and_hands_over_every_piece_in_order():
    wakes = []
    incoming = IncomingText(lambda: wakes.append(1))
    for piece in ("def ", "f", "():"):
        incoming.add(piece)
    assert len(wakes) == 1
    assert incoming.take() == "def f():"
    assert incoming.take() == ""
    incoming.add("\n")
    assert len(wakes) == 2 and incoming.take() == "\n"


def test_incoming_text_from_another_thread_loses_nothing():
    taken, wakes = [], []
    incoming = IncomingText(lambda: wakes.append(1))
    pieces = [f"{n} " for n in range(20_000)]

    def generate():
        for piece in pieces:
            incoming.add(piece)

    thread = threading.Thread(target=generate)
    thread.start()
    while thread.is_alive():
        taken.append(incoming.take())
    taken.append(incoming.take())
    assert "".join(taken) == "".join(pieces)
    assert len(wakes) == sum(1 for text in taken if text)  # one wake for each batch taken
