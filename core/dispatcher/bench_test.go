package dispatcher

import (
	"testing"

	"github.com/kemisip/kemi/kemi"
)

// BenchmarkSelectWithFailover measures ds_select_dst with failover
// records over three destinations, then ds_next_dst on a copy, as a
// failure route does.
func BenchmarkSelectWithFailover(b *testing.B) {
	env := load(b, testList, nil)
	mod := env.Mods["dispatcher"].(*Module)
	m := invite(b, "bench")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.AVPs = kemi.AVPs{}
		m.DstURI = ""
		if mod.selectDst(m, 1, algRoundRob, 0, modeDstURI) != 1 {
			b.Fatal("select failed")
		}
		f := m.Copy()
		if mod.useNext(f, modeDstURI, true) != 1 {
			b.Fatal("next failed")
		}
	}
}
