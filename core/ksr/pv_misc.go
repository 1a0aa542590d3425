package ksr

import (
	"fmt"
	"os"
	"time"

	"github.com/kemisip/kemi/kemi"
)

// monoStart anchors $TV(Sm), a monotonic clock in nanoseconds.
var monoStart = time.Now()

// msgTimeKey stores the time of a message on it.
type msgTimeKey struct{}

// miscPVs are time, process id, $null and $retcode.
func miscPVs() []kemi.PVClass {
	return []kemi.PVClass{
		ro("Ts", func(m *kemi.Msg) kemi.Value { return kemi.Int64(msgTime(m).Unix()) }),
		withParam("TV", getTV),
		ro("pp", func(*kemi.Msg) kemi.Value { return kemi.Int(os.Getpid()) }),
		ro("null", func(*kemi.Msg) kemi.Value { return kemi.Null }),
		// the return code of the last native action has no meaning in
		// KEMI, where functions return their value directly
		ro("retcode", func(*kemi.Msg) kemi.Value { return kemi.OK }),
		ro("rc", func(*kemi.Msg) kemi.Value { return kemi.OK }),
	}
}

// msgTime is the time of the message: when it was received, else the first
// time a script asked, so that $Ts and $TV(s) do not move during a route.
func msgTime(m *kemi.Msg) time.Time {
	if !m.Received.IsZero() {
		return m.Received
	}
	if t, ok := m.Value(msgTimeKey{}).(time.Time); ok {
		return t
	}
	t := time.Now()
	m.SetValue(msgTimeKey{}, t)
	return t
}

// getTV is $TV(name): s and u are the seconds and microseconds of the
// message time; sn and un of the current time; Sn is "sec.usec" now, Fn
// the local time "YYYY-MM-DD hh:mm:ss.usec" now, Sm a monotonic clock in
// nanoseconds.
func getTV(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
	now := time.Now()
	switch p.Key(m) {
	case "s":
		return kemi.Int64(msgTime(m).Unix()), nil
	case "u":
		return kemi.Int(msgTime(m).Nanosecond() / 1000), nil
	case "sn":
		return kemi.Int64(now.Unix()), nil
	case "un":
		return kemi.Int(now.Nanosecond() / 1000), nil
	case "Sn":
		return kemi.Str(fmt.Sprintf("%d.%06d", now.Unix(), now.Nanosecond()/1000)), nil
	case "Fn":
		return kemi.Str(now.Format("2006-01-02 15:04:05") + fmt.Sprintf(".%06d", now.Nanosecond()/1000)), nil
	case "Sm":
		return kemi.Str(fmt.Sprint(time.Since(monoStart).Nanoseconds())), nil
	}
	return kemi.Null, badParam(p)
}
