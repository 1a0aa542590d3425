package ksr

import (
	"context"
	"log/slog"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// logExports are KSR.dbg ... KSR.crit, KSR.log and KSR.get_debug.
func (mod *Module) logExports() []kemi.Export {
	return []kemi.Export{
		fn("dbg", kemi.S, kemi.ReturnVoid, mod.logAt(slog.LevelDebug)),
		fn("info", kemi.S, kemi.ReturnVoid, mod.logAt(slog.LevelInfo)),
		fn("notice", kemi.S, kemi.ReturnVoid, mod.logAt(kemi.LevelNotice)),
		fn("warn", kemi.S, kemi.ReturnVoid, mod.logAt(slog.LevelWarn)),
		fn("err", kemi.S, kemi.ReturnVoid, mod.logAt(slog.LevelError)),
		fn("crit", kemi.S, kemi.ReturnVoid, mod.logAt(kemi.LevelCrit)),
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

// levelByName maps a KSR.log level name to a slog level. KSR.log knows
// fewer names than xlog: alert, bug and crit2 log at error level too.
func levelByName(name string) slog.Level {
	if l, ok := kemi.ParseLogLevel(name); ok && l >= kemi.LogCrit {
		return l.Slog()
	}
	return slog.LevelError
}

// scriptLog writes one script log line, with the Call-ID of the message
// being routed so that the lines of one call can be found together.
func (mod *Module) scriptLog(m *kemi.Msg, level slog.Level, text string) {
	log := mod.slog
	if log == nil {
		log = slog.Default()
	}
	ctx := context.Background()
	if !log.Enabled(ctx, level) {
		return
	}
	text = strings.TrimRight(text, "\r\n")
	if id := msgCallID(m); id != "" {
		log.Log(ctx, level, text, "callid", id)
		return
	}
	log.Log(ctx, level, text)
}

// msgCallID returns m's Call-ID, "" without a message.
func msgCallID(m *kemi.Msg) string {
	if m == nil {
		return ""
	}
	return m.CallID()
}

// getDebug is KSR.get_debug: the engine's log level in Kamailio's numbers.
func (mod *Module) getDebug(m *kemi.Msg, _ kemi.Args) kemi.Value {
	h := mod.hostOf(m)
	if h == nil {
		return kemi.Int(int(kemi.LogInfo))
	}
	return kemi.Int(int(kemi.LogLevelOf(h.LogLevel())))
}
