//go:build !linux

package engine

import (
	"log/slog"
	"net"
)

// queuedBytes returns -1: the waiting datagrams are not known here, so a
// reader hands its token on whenever another reader is idle.
func queuedBytes(fd uintptr) int { return -1 }

// readWithSyscalls returns uc: Go's poller reads it.
func readWithSyscalls(uc *net.UDPConn, _ *slog.Logger) udpSocket { return uc }
