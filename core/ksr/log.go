package ksr

import (
	"context"
	"log/slog"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// Kamailio's log levels, as KSR.get_debug returns them.
const (
	kamAlert  = -5 // L_ALERT
	kamBug    = -4 // L_BUG
	kamCrit2  = -3 // L_CRIT2
	kamCrit   = -2 // L_CRIT
	kamErr    = -1 // L_ERR
	kamWarn   = 0  // L_WARN
	kamNotice = 1  // L_NOTICE
	kamInfo   = 2  // L_INFO
	kamDbg    = 3  // L_DBG
)

// logExports are KSR.dbg ... KSR.crit, KSR.log and KSR.get_debug.
func (mod *Module) logExports() []kemi.Export {
	return []kemi.Export{
		fn("dbg", kemi.S, kemi.ReturnVoid, mod.logAt(slog.LevelDebug)),
		fn("info", kemi.S, kemi.ReturnVoid, mod.logAt(slog.LevelInfo)),
		fn("notice", kemi.S, kemi.ReturnVoid, mod.logAt(LevelNotice)),
		fn("warn", kemi.S, kemi.ReturnVoid, mod.logAt(slog.LevelWarn)),
		fn("err", kemi.S, kemi.ReturnVoid, mod.logAt(slog.LevelError)),
		fn("crit", kemi.S, kemi.ReturnVoid, mod.logAt(LevelCrit)),
		fn("log", kemi.SS, kemi.ReturnVoid, mod.logLevel),
		fn("get_debug", nil, kemi.ReturnInt, mod.getDebug),
	}
}

// logAt returns a function that logs its text argument at level on behalf
// of the script. The text is printed as it is, less its trailing newline.
func (mod *Module) logAt(level slog.Level) kemi.Func {
	return func(m *kemi.Msg, a kemi.Args) kemi.Value {
		mod.scriptLog(m, level, a.Str(0))
		return kemi.Null
	}
}

// logLevel is KSR.log(level, text). Level names are Kamailio's, compared
// case-insensitively: dbg, info, notice, warn, err, crit; any other name
// logs at error level, as in Kamailio.
func (mod *Module) logLevel(m *kemi.Msg, a kemi.Args) kemi.Value {
	mod.scriptLog(m, levelByName(a.Str(0)), a.Str(1))
	return kemi.Null
}

// levelByName maps a KSR.log level name to a slog level.
func levelByName(name string) slog.Level {
	switch strings.ToLower(name) {
	case "dbg":
		return slog.LevelDebug
	case "info":
		return slog.LevelInfo
	case "notice":
		return LevelNotice
	case "warn":
		return slog.LevelWarn
	case "crit":
		return LevelCrit
	}
	return slog.LevelError
}

// scriptLog writes one script log line.
func (mod *Module) scriptLog(m *kemi.Msg, level slog.Level, text string) {
	log := mod.slog
	if log == nil {
		log = slog.Default()
	}
	log.Log(context.Background(), level, strings.TrimRight(text, "\r\n"))
}

// getDebug is KSR.get_debug: the engine's log level in Kamailio's numbers.
func (mod *Module) getDebug(m *kemi.Msg, _ kemi.Args) kemi.Value {
	h := mod.hostOf(m)
	if h == nil {
		return kemi.Int(kamInfo)
	}
	return kemi.Int(kamailioLevel(h.LogLevel()))
}

// kamailioLevel converts a slog level to Kamailio's debug level: the most
// verbose Kamailio level whose messages the engine still logs.
func kamailioLevel(l slog.Level) int {
	switch {
	case l <= slog.LevelDebug:
		return kamDbg
	case l <= slog.LevelInfo:
		return kamInfo
	case l <= LevelNotice:
		return kamNotice
	case l <= slog.LevelWarn:
		return kamWarn
	case l <= slog.LevelError:
		return kamErr
	case l <= LevelCrit:
		return kamCrit
	}
	return kamAlert
}
