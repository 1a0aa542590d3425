package kemi

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// MaxParams is the largest number of parameters a KEMI function takes, as in
// Kamailio's sr_kemi_t.
const MaxParams = 6

// ParamKind is the kind of one parameter of an exported function.
type ParamKind uint8

// Parameter kinds, as in kemi-exports.tsv.
const (
	ParamStr  ParamKind = iota + 1 // a string; Lua numbers are converted with tostring semantics
	ParamInt                       // an integer; numeric strings are converted, anything else is 0
	ParamLong                      // a 64-bit integer, converted like ParamInt
)

// String returns the kind as kemi-exports.tsv spells it.
func (k ParamKind) String() string {
	switch k {
	case ParamStr:
		return "str"
	case ParamInt:
		return "int"
	case ParamLong:
		return "long"
	}
	return "param(" + strconv.Itoa(int(k)) + ")"
}

// ReturnKind is what an exported function gives back to the script.
type ReturnKind uint8

// Return kinds, as in kemi-exports.tsv.
const (
	// ReturnInt is a number: >0 success, <0 failure, 0 "stop".
	ReturnInt ReturnKind = iota + 1
	// ReturnBool is a Lua boolean.
	ReturnBool
	// ReturnXval is a string, a number or nil.
	ReturnXval
	// ReturnVoid gives nothing meaningful back.
	ReturnVoid
)

// String returns the kind as kemi-exports.tsv spells it.
func (k ReturnKind) String() string {
	switch k {
	case ReturnInt:
		return "int"
	case ReturnBool:
		return "bool"
	case ReturnXval:
		return "xval"
	case ReturnVoid:
		return "void"
	}
	return "return(" + strconv.Itoa(int(k)) + ")"
}

// Func is the Go side of an exported function. It runs on the worker that
// owns m and must not keep m after it returns. A Func never panics on bad
// input: it logs (see Msg.Errorf) and returns a failure value.
type Func func(m *Msg, a Args) Value

// Export describes one function of the KSR table.
type Export struct {
	// Module is the KSR sub-table: "" for KSR.<Name> itself, "pv" for
	// KSR.pv.<Name>, and so on.
	Module string
	// Name is the function name, exactly as Kamailio exports it.
	Name string
	// Params are the parameter kinds, at most MaxParams.
	Params []ParamKind
	// Return is the kind of value given back to the script.
	Return ReturnKind
	// Func does the work.
	Func Func
}

// LuaName returns the name a script calls, such as "KSR.sl.sl_send_reply".
func (e Export) LuaName() string {
	if e.Module == "" {
		return "KSR." + e.Name
	}
	return "KSR." + e.Module + "." + e.Name
}

// Signature returns the parameter kinds as kemi-exports.tsv lists them
// ("str,int", or "-" for none).
func (e Export) Signature() string {
	if len(e.Params) == 0 {
		return "-"
	}
	s := ""
	for i, p := range e.Params {
		if i > 0 {
			s += ","
		}
		s += p.String()
	}
	return s
}

// Validate reports a malformed export.
func (e Export) Validate() error {
	switch {
	case e.Name == "":
		return fmt.Errorf("kemi: export in module %q has no name", e.Module)
	case e.Func == nil:
		return fmt.Errorf("kemi: export %s has no function", e.LuaName())
	case len(e.Params) > MaxParams:
		return fmt.Errorf("kemi: export %s has %d params, at most %d", e.LuaName(), len(e.Params), MaxParams)
	case e.Return < ReturnInt || e.Return > ReturnVoid:
		return fmt.Errorf("kemi: export %s has no return kind", e.LuaName())
	}
	for _, p := range e.Params {
		if p < ParamStr || p > ParamLong {
			return fmt.Errorf("kemi: export %s has an unknown param kind", e.LuaName())
		}
	}
	return nil
}

// Shorthands for building export tables.
var (
	// S is one string parameter.
	S = []ParamKind{ParamStr}
	// SS is two string parameters.
	SS = []ParamKind{ParamStr, ParamStr}
	// SSS is three string parameters.
	SSS = []ParamKind{ParamStr, ParamStr, ParamStr}
	// I is one int parameter.
	I = []ParamKind{ParamInt}
	// II is two int parameters.
	II = []ParamKind{ParamInt, ParamInt}
	// SI is a string then an int.
	SI = []ParamKind{ParamStr, ParamInt}
	// IS is an int then a string.
	IS = []ParamKind{ParamInt, ParamStr}
)

// Arg is one converted argument. The Lua binding fills only the field of
// the parameter's declared kind (S for ParamStr, I for ParamInt and
// ParamLong) and leaves the other zero, so a Func must read each argument
// with the accessor of its kind; MakeArgs fills both.
type Arg struct {
	S string
	I int64
}

// Args holds the converted arguments of one call.
type Args struct {
	N int
	V [MaxParams]Arg
}

// Str returns argument i as a string ("" if absent).
func (a *Args) Str(i int) string {
	if i < 0 || i >= a.N {
		return ""
	}
	return a.V[i].S
}

// Int returns argument i as an int (0 if absent).
func (a *Args) Int(i int) int {
	if i < 0 || i >= a.N {
		return 0
	}
	return int(a.V[i].I)
}

// Int64 returns argument i as an int64 (0 if absent).
func (a *Args) Int64(i int) int64 {
	if i < 0 || i >= a.N {
		return 0
	}
	return a.V[i].I
}

// MakeArgs builds Args from strings, converting each to an int the lenient
// Kamailio way as well. Tests and KSR.x.modf use it.
func MakeArgs(vals ...string) Args {
	var a Args
	for i, v := range vals {
		if i >= MaxParams {
			break
		}
		a.V[i] = Arg{S: v, I: ParseIntLenient(v)}
		a.N++
	}
	return a
}

// ParseIntLenient converts s the way lua_tointeger does: surrounding
// spaces are ignored, a decimal integer, a 0x hex integer or a float
// (truncated) is converted, anything else is 0. "010" is 10, as in Lua.
func ParseIntLenient(s string) int64 {
	s = strings.TrimSpace(s)
	digits, neg := s, false
	if strings.HasPrefix(digits, "-") {
		digits, neg = digits[1:], true
	}
	if len(digits) > 2 && (digits[:2] == "0x" || digits[:2] == "0X") {
		if n, err := strconv.ParseUint(digits[2:], 16, 64); err == nil {
			if neg {
				return -int64(n)
			}
			return int64(n)
		}
		return 0
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) && !strings.ContainsAny(s, "xXpP_") {
		return int64(f)
	}
	return 0
}

// ValueKind tells which field of a Value is set.
type ValueKind uint8

// Value kinds.
const (
	KindNull ValueKind = iota
	KindInt
	KindStr
)

// Value is what an exported function returns. The export's ReturnKind says
// how the Lua binding presents it: as a number, a boolean (Int != 0), a
// string/number/nil, or nothing.
type Value struct {
	Kind ValueKind
	Int  int64
	Str  string
}

// Common values.
var (
	Null  = Value{}
	True  = Value{Kind: KindInt, Int: 1}
	False = Value{Kind: KindInt, Int: 0}
	// OK is the int 1 ("success").
	OK = Value{Kind: KindInt, Int: 1}
	// Fail is the int -1 ("failure").
	Fail = Value{Kind: KindInt, Int: -1}
)

// Int returns an integer value.
func Int(n int) Value { return Value{Kind: KindInt, Int: int64(n)} }

// Int64 returns an integer value.
func Int64(n int64) Value { return Value{Kind: KindInt, Int: n} }

// Str returns a string value.
func Str(s string) Value { return Value{Kind: KindStr, Str: s} }

// Bool returns 1 for true and 0 for false; a ReturnBool export shows it as a
// Lua boolean.
func Bool(b bool) Value {
	if b {
		return True
	}
	return False
}

// IntBool returns 1 for true and -1 for false: the int convention.
func IntBool(b bool) Value {
	if b {
		return OK
	}
	return Fail
}

// IsNull reports whether v holds nothing.
func (v Value) IsNull() bool { return v.Kind == KindNull }

// String returns the value as text ("" for null).
func (v Value) String() string {
	switch v.Kind {
	case KindInt:
		return strconv.FormatInt(v.Int, 10)
	case KindStr:
		return v.Str
	}
	return ""
}

// AsInt returns the value as an integer; strings are parsed leniently.
func (v Value) AsInt() int64 {
	switch v.Kind {
	case KindInt:
		return v.Int
	case KindStr:
		return ParseIntLenient(v.Str)
	}
	return 0
}
