package ksr

import (
	"context"
	"log/slog"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

func (mod *Module) coreExports() []kemi.Export {
	x := []kemi.Export{
		// logging
		{Name: "dbg", Params: kemi.S, Return: kemi.ReturnVoid, Func: mod.logAt(slog.LevelDebug)},
		{Name: "info", Params: kemi.S, Return: kemi.ReturnVoid, Func: mod.logAt(slog.LevelInfo)},
		{Name: "notice", Params: kemi.S, Return: kemi.ReturnVoid, Func: mod.logAt(LevelNotice)},
		{Name: "warn", Params: kemi.S, Return: kemi.ReturnVoid, Func: mod.logAt(slog.LevelWarn)},
		{Name: "err", Params: kemi.S, Return: kemi.ReturnVoid, Func: mod.logAt(slog.LevelError)},
		{Name: "crit", Params: kemi.S, Return: kemi.ReturnVoid, Func: mod.logAt(LevelCrit)},
		{Name: "log", Params: kemi.SS, Return: kemi.ReturnVoid, Func: mod.logLevel},

		// methods
		{Name: "is_method", Params: kemi.S, Return: kemi.ReturnBool, Func: isMethod},
		{Name: "is_method_in", Params: kemi.S, Return: kemi.ReturnBool, Func: isMethodIn},

		// flags
		{Name: "setflag", Params: kemi.I, Return: kemi.ReturnBool, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value { return kemi.Bool(m.SetFlag(a.Int(0))) }},
		{Name: "resetflag", Params: kemi.I, Return: kemi.ReturnBool, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value { return kemi.Bool(m.ResetFlag(a.Int(0))) }},
		{Name: "isflagset", Params: kemi.I, Return: kemi.ReturnBool, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value { return kemi.Bool(m.IsFlagSet(a.Int(0))) }},

		// destination
		{Name: "setdsturi", Params: kemi.S, Return: kemi.ReturnBool, Func: mod.setdsturi},
		{Name: "resetdsturi", Return: kemi.ReturnBool, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value { m.DstURI = ""; return kemi.True }},
		{Name: "isdsturiset", Return: kemi.ReturnBool, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value { return kemi.Bool(m.DstURI != "") }},
		{Name: "force_rport", Return: kemi.ReturnBool, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value { m.ForceRport = true; return kemi.True }},

		// forwarding
		{Name: "forward", Return: kemi.ReturnInt, Func: mod.forward},
		{Name: "forward_uri", Params: kemi.S, Return: kemi.ReturnInt, Func: mod.forwardURI},
		{Name: "set_drop", Return: kemi.ReturnVoid, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value { m.Drop = true; return kemi.Null }},
	}
	for _, method := range []string{"INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "SUBSCRIBE",
		"PUBLISH", "NOTIFY", "REFER", "INFO", "UPDATE", "PRACK", "MESSAGE", "KDMQ", "GET", "POST", "PUT", "DELETE"} {
		method := method
		x = append(x, kemi.Export{Name: "is_" + method, Return: kemi.ReturnBool,
			Func: func(m *kemi.Msg, a kemi.Args) kemi.Value { return kemi.Bool(m.Method() == method) }})
	}
	return x
}

func (mod *Module) logAt(level slog.Level) kemi.Func {
	return func(m *kemi.Msg, a kemi.Args) kemi.Value {
		mod.slog.Log(context.Background(), level, strings.TrimRight(a.Str(0), "\r\n"))
		return kemi.Null
	}
}

func (mod *Module) logLevel(m *kemi.Msg, a kemi.Args) kemi.Value {
	level := slog.LevelError
	switch strings.ToLower(a.Str(0)) {
	case "dbg", "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "notice":
		level = LevelNotice
	case "warn", "warning":
		level = slog.LevelWarn
	case "err", "error":
		level = slog.LevelError
	case "crit", "critical":
		level = LevelCrit
	}
	mod.slog.Log(context.Background(), level, strings.TrimRight(a.Str(1), "\r\n"))
	return kemi.Null
}

// isMethod compares the method case-insensitively; a "|"-separated list
// matches any of its methods.
func isMethod(m *kemi.Msg, a kemi.Args) kemi.Value {
	method := m.Method()
	for _, want := range strings.Split(a.Str(0), "|") {
		if strings.EqualFold(strings.TrimSpace(want), method) {
			return kemi.True
		}
	}
	return kemi.False
}

// methodLetters are the letters of is_method_in.
var methodLetters = map[byte]string{
	'I': "INVITE", 'A': "ACK", 'B': "BYE", 'C': "CANCEL", 'M': "MESSAGE", 'R': "REGISTER",
	'E': "PRACK", 'P': "PUBLISH", 'S': "SUBSCRIBE", 'N': "NOTIFY", 'O': "OPTIONS", 'F': "REFER",
	'G': "GET", 'U': "UPDATE", 'K': "KDMQ", 'D': "DELETE", 'T': "POST", 'V': "PUT",
}

func isMethodIn(m *kemi.Msg, a kemi.Args) kemi.Value {
	method := m.Method()
	for _, c := range []byte(strings.ToUpper(a.Str(0))) {
		if methodLetters[c] == method {
			return kemi.True
		}
	}
	return kemi.False
}

// setdsturi sets $du; like Kamailio it returns true even when the URI is
// unusable (the error is logged).
func (mod *Module) setdsturi(m *kemi.Msg, a kemi.Args) kemi.Value {
	uri := a.Str(0)
	if uri == "" {
		m.Errorf(mod.log, "setdsturi: empty destination uri")
		return kemi.True
	}
	m.DstURI = uri
	return kemi.True
}

func (mod *Module) forward(m *kemi.Msg, a kemi.Args) kemi.Value {
	return mod.doForward(m, "")
}

func (mod *Module) forwardURI(m *kemi.Msg, a kemi.Args) kemi.Value {
	if a.Str(0) == "" {
		m.Errorf(mod.log, "forward_uri: empty uri")
		return kemi.Fail
	}
	return mod.doForward(m, a.Str(0))
}

func (mod *Module) doForward(m *kemi.Msg, uri string) kemi.Value {
	if err := m.Host.Forward(m, uri); err != nil {
		mod.log.Warn("stateless forward failed", "err", err, "at", m.Where())
		return kemi.Fail
	}
	return kemi.OK
}
