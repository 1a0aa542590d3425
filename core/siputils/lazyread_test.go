package siputils_test

import (
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// TestHasTotagLazy checks has_totag on the lazy form of requests and
// replies: the answer of the sipgo form, and no materialization. The one
// difference is a legal To header sipgo misreads: white space around the
// ';' of its parameters (RFC 3261 SEMI), where sipgo sees no tag and the
// lazy form, as Kamailio, sees it.
func TestHasTotagLazy(t *testing.T) {
	env := load(t, nil)
	tests := []struct {
		name string
		text string
		want int
		// sipgo is sipgo's answer when it differs
		sipgo int
	}{
		{name: "no to-tag", text: invite, want: -1},
		{name: "to-tag", text: strings.Replace(invite, "To: <sip:bob@example.com>", "To: <sip:bob@example.com>;tag=x9", 1), want: 1},
		{name: "compact To", text: strings.Replace(invite, "To: <sip:bob@example.com>", "t: Bob <sip:bob@example.com>;tag=x9", 1), want: 1},
		{name: "white space around ;", text: strings.Replace(invite, "To: <sip:bob@example.com>", "To: <sip:bob@example.com> ; tag=x9", 1), want: 1, sipgo: -1},
		{name: "empty tag", text: strings.Replace(invite, "To: <sip:bob@example.com>", "To: <sip:bob@example.com>;tag=", 1), want: -1},
		{name: "reply", text: reply, want: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lazy := kemitest.ParseLazyMsg(t, tc.text)
			eager := kemitest.ParseMsg(t, tc.text)
			sipgo := tc.sipgo
			if sipgo == 0 {
				sipgo = tc.want
			}
			if got := env.Call(t, "KSR.siputils.has_totag", lazy); got != kemi.Int(tc.want) {
				t.Errorf("has_totag on the lazy form = %v, want %d", got, tc.want)
			}
			if got := env.Call(t, "KSR.siputils.has_totag", eager); got != kemi.Int(sipgo) {
				t.Errorf("has_totag on the sipgo form = %v, want %d", got, sipgo)
			}
			if lazy.Lazy() == nil {
				t.Error("has_totag gave the message its sipgo form")
			}
		})
	}
}
