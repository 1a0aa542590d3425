package kemi

import (
	"testing"
	"time"
)

func TestCfgVars(t *testing.T) {
	var n CfgInt
	n.Store(70)
	var d CfgDuration
	d.Store(30 * time.Second)
	iv := n.Var("maxfwd", "max_limit", "cap", 0, 255)
	dv := d.Var("tm", "fr_timer", "timer", time.Millisecond, time.Millisecond)
	cases := []struct {
		v       CfgVar
		text    string
		ok      bool
		after   int64
		loadAft func() int64
	}{
		{iv, "32", true, 32, n.Load},
		{iv, "256", false, 32, n.Load},
		{iv, "-1", false, 32, n.Load},
		{iv, "x", false, 32, n.Load},
		{dv, "5000", true, 5000, func() int64 { return int64(d.Load() / time.Millisecond) }},
		{dv, "0", false, 5000, func() int64 { return int64(d.Load() / time.Millisecond) }},
		{dv, "9223372036854775807", false, 5000, func() int64 { return int64(d.Load() / time.Millisecond) }},
		// a count that overflows when multiplied by the unit
		{dv, "-18446744073708", false, 5000, func() int64 { return int64(d.Load() / time.Millisecond) }},
		{dv, "18446744073710", false, 5000, func() int64 { return int64(d.Load() / time.Millisecond) }},
	}
	for _, c := range cases {
		val, err := CfgValue(c.v, c.text)
		if err == nil {
			err = c.v.Set(val)
		}
		if (err == nil) != c.ok {
			t.Errorf("%s = %s: err %v, want ok %v", c.v.Key(), c.text, err, c.ok)
		}
		if got := c.loadAft(); got != c.after || c.v.Get().Int != c.after {
			t.Errorf("%s after %s: %d (Get %d), want %d", c.v.Key(), c.text, got, c.v.Get().Int, c.after)
		}
	}
	sv := CfgVar{Group: "g", Name: "s", Str: true}
	if v, err := CfgValue(sv, "12"); err != nil || v.Kind != KindStr || v.Str != "12" {
		t.Errorf("string variable from 12: %+v %v", v, err)
	}
	env := NewEnv("tm", nil, nil, nil, nil, nil, nil)
	env.AddCfg(CfgVar{Name: "x"})
	if vs := env.CfgVars(); len(vs) != 1 || vs[0].Group != "tm" {
		t.Errorf("AddCfg without a group: %+v", vs)
	}
}
