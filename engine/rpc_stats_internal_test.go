package engine

import (
	"strconv"
	"testing"

	"github.com/kemisip/kemi/kemi"
)

// Kamailio's sl counts a reply under its own code when it counts that
// code, else under its class: sl:2xx_replies is the 2xx but 200 and 202.
func TestSLStatisticsBuckets(t *testing.T) {
	page := map[string]float64{
		`kemi_sl_replies_sent_total{class="2xx"}`:        7, // 4×200, 1×202, 2×204
		`kemi_sl_replies_sent_total{class="4xx"}`:        3, // 1×404, 2×486
		`kemi_sl_replies_sent_by_code_total{code="200"}`: 4,
		`kemi_sl_replies_sent_by_code_total{code="202"}`: 1,
		`kemi_sl_replies_sent_by_code_total{code="404"}`: 1,
	}
	for _, code := range kemi.SLCountedCodes() {
		name := `kemi_sl_replies_sent_by_code_total{code="` + strconv.Itoa(code) + `"}`
		if _, ok := page[name]; !ok {
			page[name] = 0 // every series sl keeps is on the page
		}
	}
	want := map[string]float64{"sl:200_replies": 4, "sl:202_replies": 1, "sl:2xx_replies": 2, "sl:404_replies": 1, "sl:4xx_replies": 2}
	for _, s := range kstatsTable() {
		w, ok := want[s.fullName()]
		if !ok {
			continue
		}
		delete(want, s.fullName())
		if got, found := s.read(page); !found || got != w {
			t.Errorf("%s = %v (found %v), want %v", s.fullName(), got, found, w)
		}
	}
	for name := range want {
		t.Errorf("%s is not in the table", name)
	}
}
