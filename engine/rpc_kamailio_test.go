package engine_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
)

// kamailioRPCConfig serves jsonrpcs over xhttp on 127.0.0.1:%d.
const kamailioRPCConfig = `#!KAMAILIO
debug=1
log_stderror=yes
children=1
tcp_children=1
listen=tcp:127.0.0.1:%d
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "xhttp.so"
loadmodule "jsonrpcs.so"
loadmodule "sl.so"
modparam("jsonrpcs", "transport", 1)
request_route { exit; }
event_route[xhttp:request] {
	jsonrpc_dispatch();
	exit;
}
`

// shape is the structure of a JSON value: object keys with their
// values' shapes, the shape of an array's first element, the kind of a
// scalar.
func shape(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = shape(e)
		}
		return out
	case []any:
		if len(x) == 0 {
			return []any{}
		}
		return []any{shape(x[0])}
	case string:
		return "string"
	case float64:
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

// TestRPCShapesMatchKamailio calls the core methods on Kamailio 5.6 with
// jsonrpcs and on kemi, and compares the shapes of the replies.
func TestRPCShapesMatchKamailio(t *testing.T) {
	port := freeTCPPort(t)
	startKamailio(t, "jsonrpcs", fmt.Sprintf(kamailioRPCConfig, port))
	kamURL := fmt.Sprintf("http://127.0.0.1:%d/RPC", port)

	s := enginetest.Start(t, answerScript)
	kemiURL := "http://" + s.MetricsAddr() + engine.RPCPath

	result := func(url, method string) any {
		t.Helper()
		body := `{"jsonrpc":"2.0","method":"` + method + `","id":1}`
		var r struct{ Result any }
		deadline := time.Now().Add(10 * time.Second)
		for {
			res, err := http.Post(url, "application/json", strings.NewReader(body))
			if err == nil {
				err = json.NewDecoder(res.Body).Decode(&r)
				res.Body.Close()
				if err == nil {
					return r.Result
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s at %s: %v", method, url, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, method := range []string{"core.version", "core.uptime", "core.ps", "core.psx", "system.listMethods", "core.echo"} {
		k, m := shape(result(kamURL, method)), shape(result(kemiURL, method))
		if !reflect.DeepEqual(k, m) {
			t.Errorf("%s: Kamailio's reply has the shape %v, kemi's %v", method, k, m)
		}
	}
	// shmmem: kemi has Kamailio's keys but max_used and fragments
	kamMem := result(kamURL, "core.shmmem").(map[string]any)
	kemiMem := result(kemiURL, "core.shmmem").(map[string]any)
	var missing []string
	for k := range kamMem {
		if _, ok := kemiMem[k]; !ok {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if !reflect.DeepEqual(missing, []string{"fragments", "max_used"}) || len(kemiMem) != 4 {
		t.Errorf("core.shmmem: kemi lacks %v of Kamailio's keys and has %d, want only fragments and max_used missing", missing, len(kemiMem))
	}
}
