package xlog

import (
	"context"
	"log/slog"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// Levels beyond slog's four, for Kamailio's notice, crit and alert (the
// same values as the core KSR.notice/crit).
const (
	levelNotice = slog.LevelInfo + 2
	levelCrit   = slog.LevelError + 4
	levelAlert  = slog.LevelError + 8
)

// Kamailio's log levels, most severe first; the index is used for metrics.
const (
	lAlert = iota
	lBug
	lCrit
	lErr
	lWarn
	lNotice
	lInfo
	lDbg
	numLevels
)

var levels = [numLevels]struct {
	name  string // metric label
	level slog.Level
}{
	lAlert:  {"alert", levelAlert},
	lBug:    {"bug", levelCrit}, // Kamailio logs L_BUG at syslog's crit
	lCrit:   {"crit", levelCrit},
	lErr:    {"err", slog.LevelError},
	lWarn:   {"warn", slog.LevelWarn},
	lNotice: {"notice", levelNotice},
	lInfo:   {"info", slog.LevelInfo},
	lDbg:    {"dbg", slog.LevelDebug},
}

// levelNames maps Kamailio's level names, without the "L_" prefix and in
// lower case, to levels.
var levelNames = map[string]int{
	"alert":  lAlert,
	"bug":    lBug,
	"crit":   lCrit,
	"crit0":  lCrit,
	"crit2":  lCrit,
	"err":    lErr,
	"warn":   lWarn,
	"notice": lNotice,
	"info":   lInfo,
	"dbg":    lDbg,
}

// parseLevel reads a level name such as "L_INFO" (case-insensitive, the
// "L_" prefix optional). Like Kamailio, an unknown name means L_ERR.
func parseLevel(s string) int {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "l_")
	if l, ok := levelNames[s]; ok {
		return l
	}
	return lErr
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
	at := func(name string, level int) kemi.Export {
		return kemi.Export{Module: "xlog", Name: name, Params: kemi.S, Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.xlog(m, "", level, a.Str(0))
		}}
	}
	return []kemi.Export{
		at("xdbg", lDbg),
		at("xinfo", lInfo),
		at("xnotice", lNotice),
		at("xwarn", lWarn),
		at("xerr", lErr),
		at("xcrit", lCrit),
		at("xalert", lAlert),
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
func (mod *Module) xlog(m *kemi.Msg, facility string, level int, format string) kemi.Value {
	ctx := context.Background()
	lvl := levels[level].level
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
	if facility != "" {
		mod.slog.Log(ctx, lvl, text, "facility", facility)
	} else {
		mod.slog.Log(ctx, lvl, text)
	}
	mod.messages[level].Inc()
	return kemi.OK
}
