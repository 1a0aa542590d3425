package ksr

import (
	"github.com/kemisip/kemi/kemi"
)

// flagScope picks the flag set a flag function works on; nil means there
// is no such set (a branch index out of range).
type flagScope func(m *kemi.Msg, a kemi.Args) *uint32

// flagOp changes or tests bit i of a flag set.
type flagOp func(f *uint32, i int) bool

var (
	msgFlags    flagScope = func(m *kemi.Msg, _ kemi.Args) *uint32 { return &m.Flags }
	scriptFlags flagScope = func(m *kemi.Msg, _ kemi.Args) *uint32 { return &m.SFlags }
	// branch0Flags are the flags of the R-URI branch.
	branch0Flags flagScope = func(m *kemi.Msg, _ kemi.Args) *uint32 { return m.BranchFlags(0) }
	// branchNFlags take the branch index from the second argument: 0 is
	// the R-URI branch, i is m.Branches[i-1].
	branchNFlags flagScope = func(m *kemi.Msg, a kemi.Args) *uint32 { return m.BranchFlags(a.Int(1)) }

	setOp   flagOp = kemi.SetBit
	resetOp flagOp = kemi.ClearBit
	testOp  flagOp = func(f *uint32, i int) bool { return kemi.TestBit(*f, i) }
)

// flagExports are the message, branch and script flag functions. Flag
// indexes are 0..31; an index out of range is an error that gives false.
func (mod *Module) flagExports() []kemi.Export {
	ii := kemi.II
	return []kemi.Export{
		fn("setflag", kemi.I, kemi.ReturnBool, mod.flagFunc("setflag", msgFlags, setOp)),
		fn("resetflag", kemi.I, kemi.ReturnBool, mod.flagFunc("resetflag", msgFlags, resetOp)),
		fn("isflagset", kemi.I, kemi.ReturnBool, mod.flagFunc("isflagset", msgFlags, testOp)),
		fn("setbflag", kemi.I, kemi.ReturnBool, mod.flagFunc("setbflag", branch0Flags, setOp)),
		fn("resetbflag", kemi.I, kemi.ReturnBool, mod.flagFunc("resetbflag", branch0Flags, resetOp)),
		fn("isbflagset", kemi.I, kemi.ReturnBool, mod.flagFunc("isbflagset", branch0Flags, testOp)),
		fn("setbiflag", ii, kemi.ReturnBool, mod.flagFunc("setbiflag", branchNFlags, setOp)),
		fn("resetbiflag", ii, kemi.ReturnBool, mod.flagFunc("resetbiflag", branchNFlags, resetOp)),
		fn("isbiflagset", ii, kemi.ReturnBool, mod.flagFunc("isbiflagset", branchNFlags, testOp)),
		fn("setsflag", kemi.I, kemi.ReturnBool, mod.flagFunc("setsflag", scriptFlags, setOp)),
		fn("resetsflag", kemi.I, kemi.ReturnBool, mod.flagFunc("resetsflag", scriptFlags, resetOp)),
		fn("issflagset", kemi.I, kemi.ReturnBool, mod.flagFunc("issflagset", scriptFlags, testOp)),
	}
}

// flagFunc builds one flag export: it checks the flag index, finds the
// flag set and applies op.
func (mod *Module) flagFunc(name string, scope flagScope, op flagOp) kemi.Func {
	return func(m *kemi.Msg, a kemi.Args) kemi.Value {
		i := a.Int(0)
		if i < 0 || i > 31 {
			m.Errorf(mod.log, "KSR.%s: invalid flag %d (0..31)", name, i)
			return kemi.False
		}
		f := scope(m, a)
		if f == nil {
			m.Errorf(mod.log, "KSR.%s: no branch %d (the message has %d extra branches)", name, a.Int(1), len(m.Branches))
			return kemi.False
		}
		return kemi.Bool(op(f, i))
	}
}
