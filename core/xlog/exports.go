package xlog

import (
	"context"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// parseLevel reads a level name such as "L_INFO" (case-insensitive, the
// "L_" prefix optional; "L_CRIT0" is L_CRIT). Like Kamailio, an unknown
// name means L_ERR.
func parseLevel(s string) kemi.LogLevel {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && strings.EqualFold(s[:2], "l_") {
		s = s[2:]
	}
	if strings.EqualFold(s, "crit0") {
		return kemi.LogCrit
	}
	l, _ := kemi.ParseLogLevel(s)
	return l
}

// facilities are the syslog facility names xlog_facility accepts.
var facilities = map[string]bool{
	"LOG_AUTH": true, "LOG_AUTHPRIV": true, "LOG_CRON": true, "LOG_DAEMON": true, "LOG_FTP": true,
	"LOG_KERN": true, "LOG_LPR": true, "LOG_MAIL": true, "LOG_NEWS": true, "LOG_SYSLOG": true,
	"LOG_USER": true, "LOG_UUCP": true, "LOG_LOCAL0": true, "LOG_LOCAL1": true, "LOG_LOCAL2": true,
	"LOG_LOCAL3": true, "LOG_LOCAL4": true, "LOG_LOCAL5": true, "LOG_LOCAL6": true, "LOG_LOCAL7": true,
}

// Exports returns KSR.xlog.
func (mod *Module) Exports() []kemi.Export {
	at := func(name string, level kemi.LogLevel) kemi.Export {
		return kemi.Export{Module: "xlog", Name: name, Params: kemi.S, Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.xlog(m, "", level, a.Str(0))
		}}
	}
	return []kemi.Export{
		at("xdbg", kemi.LogDbg),
		at("xinfo", kemi.LogInfo),
		at("xnotice", kemi.LogNotice),
		at("xwarn", kemi.LogWarn),
		at("xerr", kemi.LogErr),
		at("xcrit", kemi.LogCrit),
		at("xalert", kemi.LogAlert),
		{Module: "xlog", Name: "xlog", Params: kemi.SS, Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.xlog(m, "", parseLevel(a.Str(0)), a.Str(1))
		}},
		{Module: "xlog", Name: "xlog_facility", Params: kemi.SSS, Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			facility := strings.ToUpper(strings.TrimSpace(a.Str(0)))
			if !facilities[facility] {
				mod.log.Warn("invalid syslog facility, using the default", "facility", a.Str(0), "at", m.Where())
				facility = ""
			}
			return mod.xlog(m, facility, parseLevel(a.Str(1)), a.Str(2))
		}},
	}
}

// xlog expands the format for m and logs it at the given level. As in
// Kamailio, nothing is evaluated (and 1 is returned) when the level is not
// logged; a format with an unknown pseudo-variable gives -1.
func (mod *Module) xlog(m *kemi.Msg, facility string, level kemi.LogLevel, format string) kemi.Value {
	ctx := context.Background()
	lvl := level.Slog()
	if !mod.slog.Enabled(ctx, lvl) {
		return kemi.OK
	}
	f, cached, err := mod.cache.get(mod.pvs, format)
	if err != nil {
		mod.badFormats.Inc()
		m.Errorf(mod.log, "xlog: invalid format %q: %v", format, err)
		return kemi.Fail
	}
	if !cached {
		mod.uncached.Inc()
	}
	text := f.Eval(m)
	if mod.prefix != nil {
		text = mod.prefix.Eval(m) + text
	}
	text = strings.TrimRight(text, "\r\n")
	// the Call-ID lets the lines of one call be found together
	attrs := make([]any, 0, 4)
	if m != nil {
		if id := m.CallID(); id != "" {
			attrs = append(attrs, "callid", id)
		}
	}
	if facility != "" {
		attrs = append(attrs, "facility", facility)
	}
	mod.slog.Log(ctx, lvl, text, attrs...)
	mod.counter(level).Inc()
	return kemi.OK
}
