package loadgen

import (
	"math"
	"math/bits"
)

// histogram counts latencies in log-linear buckets: values below 2^subBits
// ns each have a bucket of their own; above that, every power of two is
// split into 2^subBits equal buckets, so a bucket is at most 1/32 (3%) of
// its values wide. Values from 2^maxExp ns (about 69 s) up share the last
// bucket. It is a fixed array: adding never allocates.
type histogram struct {
	counts [numBuckets]uint64
	total  uint64
}

const (
	subBits    = 5
	subCount   = 1 << subBits
	maxExp     = 36
	numBuckets = (maxExp-subBits+1)*subCount + 1 // + the overflow bucket
)

func bucketOf(v int64) int {
	if v < subCount {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	u := uint64(v)
	if u >= 1<<maxExp {
		return numBuckets - 1
	}
	e := bits.Len64(u) - subBits - 1 // u>>e has subBits+1 bits: 1xxxxx
	return (e+1)*subCount + int(u>>e)&(subCount-1)
}

// bucketRange returns the lowest value of bucket b and its width.
func bucketRange(b int) (lo, width int64) {
	if b < subCount {
		return int64(b), 1
	}
	e := b/subCount - 1
	m := b % subCount
	return int64(subCount+m) << e, 1 << e
}

func (h *histogram) add(v int64) {
	h.counts[bucketOf(v)]++
	h.total++
}

func (h *histogram) merge(o *histogram) {
	for i, n := range o.counts {
		h.counts[i] += n
	}
	h.total += o.total
}

// quantile returns the middle of the bucket that holds the q-th value in
// ascending order (0 < q <= 1), or 0 when the histogram is empty.
func (h *histogram) quantile(q float64) int64 {
	if h.total == 0 {
		return 0
	}
	rank := max(uint64(math.Ceil(q*float64(h.total))), 1)
	var seen uint64
	for b, n := range h.counts {
		seen += n
		if seen >= rank {
			lo, w := bucketRange(b)
			return lo + w/2
		}
	}
	return 0 // not reached
}
