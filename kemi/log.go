package kemi

import (
	"log/slog"
	"strings"
)

// Slog levels beyond slog's four, for Kamailio's notice, crit and alert.
const (
	LevelNotice = slog.LevelInfo + 2
	LevelCrit   = slog.LevelError + 4
	LevelAlert  = slog.LevelError + 8
)

// LogLevel is a Kamailio log level, numbered as Kamailio numbers them
// (L_ALERT -5 to L_DBG 3): KSR.get_debug returns these numbers.
type LogLevel int

// Kamailio's log levels, most severe first.
const (
	LogAlert  LogLevel = -5 // L_ALERT
	LogBug    LogLevel = -4 // L_BUG
	LogCrit2  LogLevel = -3 // L_CRIT2: L_CRIT with a prefix
	LogCrit   LogLevel = -2 // L_CRIT
	LogErr    LogLevel = -1 // L_ERR
	LogWarn   LogLevel = 0  // L_WARN
	LogNotice LogLevel = 1  // L_NOTICE
	LogInfo   LogLevel = 2  // L_INFO
	LogDbg    LogLevel = 3  // L_DBG
)

var logLevelNames = [...]string{"alert", "bug", "crit2", "crit", "err", "warn", "notice", "info", "dbg"}

// String returns the level name without the "L_" prefix, in lower case.
func (l LogLevel) String() string {
	if l < LogAlert || l > LogDbg {
		return "err"
	}
	return logLevelNames[l-LogAlert]
}

// Slog returns the slog level messages of l are logged at. L_BUG and
// L_CRIT2 are logged at crit, as Kamailio logs them at syslog's crit.
func (l LogLevel) Slog() slog.Level {
	switch {
	case l <= LogAlert:
		return LevelAlert
	case l <= LogCrit:
		return LevelCrit
	case l == LogErr:
		return slog.LevelError
	case l == LogWarn:
		return slog.LevelWarn
	case l == LogNotice:
		return LevelNotice
	case l == LogInfo:
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

// LogLevelOf returns the most verbose Kamailio level whose messages are
// still logged when the slog level is l.
func LogLevelOf(l slog.Level) LogLevel {
	switch {
	case l <= slog.LevelDebug:
		return LogDbg
	case l <= slog.LevelInfo:
		return LogInfo
	case l <= LevelNotice:
		return LogNotice
	case l <= slog.LevelWarn:
		return LogWarn
	case l <= slog.LevelError:
		return LogErr
	case l <= LevelCrit:
		return LogCrit
	}
	return LogAlert
}

// ParseLogLevel returns the level called name: a Kamailio level name
// without the "L_" prefix (alert, bug, crit2, crit, err, warn, notice,
// info, dbg), in any case.
func ParseLogLevel(name string) (LogLevel, bool) {
	for i, n := range logLevelNames {
		if strings.EqualFold(n, name) {
			return LogAlert + LogLevel(i), true
		}
	}
	return LogErr, false
}
