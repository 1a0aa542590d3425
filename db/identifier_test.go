package db

import (
	"strings"
	"testing"
)

func TestValidIdentifier(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"location", true},
		{"_t1", true},
		{"Sub_Scriber9", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"1abc", false},
		{"a-b", false},
		{"a b", false},
		{"a;DROP", false},
		{"tablé", false},
	}
	for _, tt := range tests {
		if got := ValidIdentifier(tt.name); got != tt.want {
			t.Errorf("ValidIdentifier(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
