package textops

import (
	"fmt"
	"testing"

	"github.com/kemisip/kemi/kemi"
)

// TestSubstCache checks that a sed-like expression is parsed once and
// that the cache stays bounded.
func TestSubstCache(t *testing.T) {
	mod := &Module{}
	if err := mod.ModInit(kemi.NewEnv("textops", nil, kemi.NewPVTable(), kemi.NewServices(), nil, nil, nil)); err != nil {
		t.Fatal(err)
	}
	a, err := mod.parseSubst("/a(b)/x\\1/g")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := mod.parseSubst("/a(b)/x\\1/g"); b != a {
		t.Error("the same expression was parsed twice")
	}
	if _, err := mod.parseSubst("/a(/x/"); err == nil {
		t.Error("no error for a bad expression")
	}
	if _, err := mod.parseSubst("/a(/x/"); err == nil {
		t.Error("cached error lost")
	}
	for i := 0; i < 3*maxCachedSubst; i++ {
		mod.parseSubst(fmt.Sprintf("/x%d/y/", i))
	}
	if n := mod.substs.Len(); n > maxCachedSubst {
		t.Errorf("%d parsed expressions cached, limit %d", n, maxCachedSubst)
	}
}
