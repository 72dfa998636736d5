package node_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"healthcode/internal/health"
	"healthcode/internal/node"
	"healthcode/internal/nodetest"
)

func TestConcurrentEnrolmentOfOneIDMakesOnePerson(t *testing.T) {
	n := nodetest.Start(t, "", nil)
	const workers = 16
	ids := make([]uint32, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			res, err := n.Enrol(context.Background(), "t", []node.Enrolment{{IDNumber: nodetest.IDNumber(7), Name: "张三", Phone: "13800138000", HomeRegion: "440106"}})
			if err != nil {
				t.Error(err)
				return
			}
			ids[w] = res[0].Person
		}(w)
	}
	wg.Wait()
	for w, id := range ids {
		if id != ids[0] {
			t.Fatalf("worker %d got person %d, worker 0 got %d: one ID number made two persons", w, id, ids[0])
		}
	}
	if got := n.Stats().Persons; got != 1 {
		t.Errorf("persons: got %d, want 1", got)
	}
	// The same ID twice inside one batch is one person too.
	res, err := n.Enrol(context.Background(), "t", []node.Enrolment{
		{IDNumber: nodetest.IDNumber(8), Name: "李四", Phone: "13800138000", HomeRegion: "440106"},
		{IDNumber: nodetest.IDNumber(8), Name: "李四", Phone: "13800138000", HomeRegion: "440106"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Person != res[1].Person || res[1].Existing != true {
		t.Errorf("same ID twice in a batch: got %+v", res)
	}
}

func TestConcurrentUploadsOfOneSampleAreIdempotent(t *testing.T) {
	n := nodetest.Start(t, "", nil)
	res, err := n.Enrol(context.Background(), "t", []node.Enrolment{{IDNumber: nodetest.IDNumber(1), Name: "张三", Phone: "13800138000", HomeRegion: "440106"}})
	if err != nil {
		t.Fatal(err)
	}
	p := res[0].Person
	at := n.Clock.Now().Add(-time.Hour)
	var mu sync.Mutex
	var total node.ResultCounts
	var wg sync.WaitGroup
	for w := 0; w < 12; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc, err := n.UploadResults(context.Background(), "t", "lab1", []node.ResultInput{{SampleID: "S1", Person: p, SampledAt: at, Result: health.Negative}})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			total.Accepted += rc.Accepted
			total.Duplicates += rc.Duplicates
			total.Corrections += rc.Corrections
			mu.Unlock()
		}()
	}
	wg.Wait()
	if total != (node.ResultCounts{Accepted: 1, Duplicates: 11}) {
		t.Errorf("12 concurrent uploads of one sample: got %+v, want 1 accepted and 11 duplicates", total)
	}
	if got := n.Stats().Tests; got != 1 {
		t.Errorf("test events: got %d, want 1", got)
	}
}

func TestGroupCommitKeepsOrderAndCounts(t *testing.T) {
	n := nodetest.Start(t, "", nil)
	var in []node.Enrolment
	for i := 0; i < 50; i++ {
		in = append(in, node.Enrolment{IDNumber: nodetest.IDNumber(100 + i), Name: "王五", Phone: "13800138000", HomeRegion: "440106"})
	}
	res, err := n.Enrol(context.Background(), "t", in)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := n.RegisterPlace(context.Background(), "t", node.PlaceInput{Name: "市场", Kind: "market", Region: "440106", Lat: 23.1, Lng: 113.3})
	if err != nil {
		t.Fatal(err)
	}
	// Many concurrent scans: each acknowledged scan is in the index.
	var wg sync.WaitGroup
	errs := make(chan error, len(res))
	signed, _, err := n.PlaceCode(pl)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		wg.Add(1)
		go func(i int, p uint32) {
			defer wg.Done()
			_, err := n.RecordVisits(context.Background(), health.PersonID(p), []node.VisitInput{{Person: p, PlaceCode: signed,
				At: n.Clock.Now().Add(-time.Duration(i) * time.Minute)}})
			errs <- err
		}(i, r.Person)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st := n.Stats()
	if st.Visits != 50 || st.Persons != 50 || st.Places != 1 || st.Events != 101 {
		t.Errorf("got %+v, want 50 visits, 50 persons, 1 place, 101 events", st)
	}
	for i := range res {
		if res[i].Person != uint32(i+1) {
			t.Fatalf("batch order: person %d got index %d", i, res[i].Person)
		}
	}
}

// Requests that validate against state the same commit group would change
// (case numbers per site and day) see every earlier write applied.
func TestConcurrentCasesGetDistinctIDs(t *testing.T) {
	n := nodetest.Start(t, "", nil)
	const k = 24
	var in []node.Enrolment
	for i := 0; i < k; i++ {
		in = append(in, node.Enrolment{IDNumber: nodetest.IDNumber(i), Name: "张三", Phone: "13800138000", HomeRegion: "440106"})
	}
	res, err := n.Enrol(context.Background(), "t", in)
	if err != nil {
		t.Fatal(err)
	}
	now := n.Clock.Now()
	ids := make(chan string, k)
	var wg sync.WaitGroup
	for _, r := range res {
		wg.Add(1)
		go func(p uint32) {
			defer wg.Done()
			c, err := n.OpenCase(context.Background(), "t", node.CaseInput{Person: p, Classification: node.Confirmed,
				Onset: now.Add(-24 * time.Hour), Site: "GZ01", IsolatedAt: now.Add(-time.Hour)})
			if err != nil {
				t.Error(err)
				return
			}
			ids <- c.ID
		}(r.Person)
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("case id %s given twice", id)
		}
		seen[id] = true
	}
	if len(seen) != k {
		t.Fatalf("%d distinct case ids, want %d", len(seen), k)
	}
}
