package stats

import (
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	cases := []struct {
		v    []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
	}
	for _, c := range cases {
		in := append([]float64(nil), c.v...)
		if got := Median(c.v); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", in, got, c.want)
		}
		for i := range in {
			if c.v[i] != in[i] {
				t.Errorf("Median reordered its argument: %v, was %v", c.v, in)
			}
		}
	}
	if m := Median([]time.Duration{4, 1, 3, 2}); m != 2 {
		t.Errorf("median of 4 1 3 2 = %v", m) // (2+3)/2 in integer nanoseconds
	}
}
