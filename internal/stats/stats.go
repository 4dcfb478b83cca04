// Package stats holds the order statistic that the measuring tools (the
// echobench command, the bench module's clientbench, runbench and
// tlsbench) report for their interleaved rounds.
package stats

import "slices"

// Median returns the middle value of v (the mean of the two middle ones
// for an even count, truncated for integers), or 0 for none; v is left as
// it is.
func Median[T ~int64 | ~float64](v []T) T {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}
