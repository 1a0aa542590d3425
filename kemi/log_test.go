package kemi

import (
	"log/slog"
	"testing"
)

func TestLogLevels(t *testing.T) {
	for l := LogAlert; l <= LogDbg; l++ {
		got, ok := ParseLogLevel(l.String())
		if !ok || got != l {
			t.Errorf("ParseLogLevel(%q) = %d, %v; want %d", l.String(), got, ok, l)
		}
	}
	if l, ok := ParseLogLevel("NOTICE"); !ok || l != LogNotice {
		t.Errorf("ParseLogLevel(NOTICE) = %d, %v", l, ok)
	}
	for _, name := range []string{"", "L_INFO", "debug", "crit0"} {
		if l, ok := ParseLogLevel(name); ok || l != LogErr {
			t.Errorf("ParseLogLevel(%q) = %d, %v; want L_ERR, false", name, l, ok)
		}
	}
	slogOf := map[LogLevel]slog.Level{
		LogAlert: LevelAlert, LogBug: LevelCrit, LogCrit2: LevelCrit, LogCrit: LevelCrit, LogErr: slog.LevelError,
		LogWarn: slog.LevelWarn, LogNotice: LevelNotice, LogInfo: slog.LevelInfo, LogDbg: slog.LevelDebug,
	}
	for l, want := range slogOf {
		if got := l.Slog(); got != want {
			t.Errorf("%s.Slog() = %v, want %v", l, got, want)
		}
	}
	for _, l := range []LogLevel{LogAlert, LogCrit, LogErr, LogWarn, LogNotice, LogInfo, LogDbg} {
		if got := LogLevelOf(l.Slog()); got != l {
			t.Errorf("LogLevelOf(%v) = %s, want %s", l.Slog(), got, l)
		}
	}
}
