package htable

import (
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		def  string
		want spec
	}{
		{"ipban=>size=8;autoexpire=300;initval=0;updateexpire=1",
			spec{name: "ipban", slots: 256, autoexpire: 300, hasInit: true, initval: 0, updateExpire: true}},
		{"a=>", spec{name: "a", slots: 16, updateExpire: true}},
		{" b => size=1 ; initval=-5; updateexpire=0;", spec{name: "b", slots: 8, hasInit: true, initval: -5}},
		{"c=>size=40", spec{name: "c", slots: maxSlots, updateExpire: true}},
		{"d=>size=20", spec{name: "d", slots: maxSlots, updateExpire: true}},
		{"e=>dbmode=0;dmqreplicate=0", spec{name: "e", slots: 16, updateExpire: true}},
		{"f=>dbtable=htable;dbmode=1", spec{name: "f", slots: 16, updateExpire: true, dbtable: "htable", dbmode: true}},
		{"g=>dbmode=2;dbtable=my_items", spec{name: "g", slots: 16, updateExpire: true, dbtable: "my_items", dbmode: true}},
	}
	for _, tt := range tests {
		got, err := parseSpec(tt.def)
		if err != nil || got != tt.want {
			t.Errorf("parseSpec(%q) = %+v, %v; want %+v", tt.def, got, err, tt.want)
		}
	}
}

func TestParseSpecRefuses(t *testing.T) {
	tests := []struct{ def, wantErr string }{
		{"ipban", "want name=>"},
		{"=>size=4", "want name=>"},
		{"a=>size=x", "size"},
		{"a=>size=-1", "non-negative"},
		{"a=>autoexpire=", "autoexpire"},
		{"a=>initval=abc", "initval"},
		{"a=>colour=red", `unknown key "colour"`},
		{"a=>dbtable=", "a table name"},
		{"a=>dbtable=ht-x", "a table name"},
		{"a=>dbmode=x", "non-negative"},
		{"a=>cols='key_name,key_value'", "cols is not yet supported"},
		{"a=>dmqreplicate=1", "dmqreplicate is not yet supported"},
	}
	for _, tt := range tests {
		_, err := parseSpec(tt.def)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.def) {
			t.Errorf("parseSpec(%q) error %v; want one naming the definition and %q", tt.def, err, tt.wantErr)
		}
	}
}
