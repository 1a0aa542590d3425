//go:build kemitest

package all

// The lifecycle test module is linked only into test builds (-tags kemitest).
import _ "github.com/kemisip/kemi/core/lifecycletest"
