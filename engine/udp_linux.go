package engine

import "golang.org/x/sys/unix"

// queuedBytes returns the size of the datagram waiting first in the
// socket fd (SIOCINQ), 0 when none waits, -1 when unknown.
func queuedBytes(fd uintptr) int {
	n, err := unix.IoctlGetInt(int(fd), unix.SIOCINQ)
	if err != nil {
		return -1
	}
	return n
}
