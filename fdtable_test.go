package asio

import (
	"math/rand"
	"testing"
)

// TestSlotTable: a slot given out again carries a new generation, so a
// token of its old holder is told apart; removed slots are reused; a
// closed table takes nothing more; a fixed table (slots chosen by the
// caller, as descriptor numbers) keeps no free list.
func TestSlotTable(t *testing.T) {
	var tab slotTable[int]
	a, b := new(int), new(int)
	sa, ga, ok := tab.insert(a)
	if !ok || tab.lookup(sa) != a || ga == 0 {
		t.Fatalf("insert: slot %d gen %d ok %v", sa, ga, ok)
	}
	tab.remove(sa)
	if tab.lookup(sa) != nil {
		t.Fatal("lookup after remove found a record")
	}
	sb, gb, _ := tab.insert(b)
	if sb != sa || gb == ga {
		t.Fatalf("the freed slot %d is reused as %d with generation %d (was %d): want the same slot, a new generation", sa, sb, gb, ga)
	}
	tab.close()
	if _, _, ok := tab.insert(a); ok {
		t.Fatal("insert into a closed table succeeded")
	}
	if _, ok := tab.set(3, a); ok {
		t.Fatal("set into a closed table succeeded")
	}

	var fixed slotTable[int]
	fixed.fixed = true
	g1, _ := fixed.set(7, a)
	fixed.remove(7)
	g2, _ := fixed.set(7, b)
	if g1 == g2 || fixed.lookup(7) != b {
		t.Fatalf("descriptor 7 reused: generations %d, %d, record %p", g1, g2, fixed.lookup(7))
	}
	if len(fixed.free) != 0 {
		t.Fatal("a fixed table keeps a free list")
	}
	if _, ok := fixed.set(chunkSize*tableChunks, a); ok {
		t.Fatal("set past the table's end succeeded")
	}
	if fixed.lookup(1<<31) != nil {
		t.Fatal("lookup past the table's end found a record")
	}
}

// TestSlotTableEach visits every record in the table once.
func TestSlotTableEach(t *testing.T) {
	var tab slotTable[int]
	want := map[*int]bool{}
	for i := 0; i < 3000; i++ { // over two chunks
		v := new(int)
		slot, _, _ := tab.insert(v)
		if i%3 == 0 {
			tab.remove(slot)
			continue
		}
		want[v] = true
	}
	seen := map[*int]bool{}
	tab.each(func(v *int) {
		if seen[v] {
			t.Fatal("visited twice")
		}
		seen[v] = true
	})
	if len(seen) != len(want) {
		t.Fatalf("visited %d records, want %d", len(seen), len(want))
	}
}

// TestTimerHeap: pushes and removals in random order keep the heap
// ordered and every wait's index right.
func TestTimerHeap(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var h timerHeap
	var live []*op
	check := func() {
		for i, o := range h {
			if o.x.hidx != i {
				t.Fatalf("wait at %d says it is at %d", i, o.x.hidx)
			}
			if p := (i - 1) / 2; i > 0 && h[p].x.when > o.x.when {
				t.Fatalf("heap order broken at %d", i)
			}
		}
	}
	for i := 0; i < 2000; i++ {
		if len(live) > 0 && rng.Intn(3) == 0 {
			j := rng.Intn(len(live))
			h.remove(live[j])
			if live[j].x.hidx != -1 {
				t.Fatal("a removed wait keeps an index")
			}
			live = append(live[:j], live[j+1:]...)
		} else {
			o := &op{x: &opExt{when: rng.Int63n(1000), hidx: -1}}
			h.push(o)
			live = append(live, o)
		}
		check()
	}
	prev := int64(-1)
	for len(h) > 0 {
		o := h[0]
		if o.x.when < prev {
			t.Fatal("popped out of order")
		}
		prev = o.x.when
		h.remove(o)
	}
}
