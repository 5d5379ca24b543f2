"""The readers-writer lock ZhiceIndex uses between searches and applied changes."""

import threading
import time

from zhice.index.rwlock import ReadWriteLock


def test_lock_readers_share_writer_is_alone():
    lock = ReadWriteLock()
    inside, peak, log = [0], [0], []
    guard = threading.Lock()

    def reader():
        with lock.read():
            with guard:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            time.sleep(0.05)
            with guard:
                inside[0] -= 1

    def writer():
        with lock.write():
            log.append(inside[0])
            time.sleep(0.05)
            log.append(inside[0])

    threads = [threading.Thread(target=reader) for _ in range(4)]
    threads.insert(2, threading.Thread(target=writer))
    for t in threads:
        t.start()
        time.sleep(0.005)
    for t in threads:
        t.join(5)
    assert peak[0] >= 2  # readers ran together
    assert log == [0, 0]  # no reader while the writer held the lock


