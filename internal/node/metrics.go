package node

import (
	"github.com/prometheus/client_golang/prometheus"

	"healthcode/internal/health"
)

type metrics struct {
	events      *prometheus.CounterVec
	commits     prometheus.Histogram
	groupSize   prometheus.Histogram
	evaluations prometheus.Counter
	scheduled   prometheus.Counter
	verified    *prometheus.CounterVec

	appealResolution  *prometheus.HistogramVec // by the resolver's level (appeals.go)
	appealEscalations *prometheus.CounterVec   // by the region that missed the deadline
}

func newMetrics(reg prometheus.Registerer, n *Node) metrics {
	m := metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "healthcode_events_appended_total",
			Help: "Events appended to the log, by kind."}, []string{"kind"}),
		commits: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "healthcode_commit_seconds",
			Help: "Time to make one group of events durable.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		groupSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "healthcode_commit_group_events",
			Help: "Events per group commit.", Buckets: prometheus.ExponentialBuckets(1, 4, 9)}),
		evaluations: prometheus.NewCounter(prometheus.CounterOpts{Name: "healthcode_code_evaluations_total",
			Help: "Code evaluations (by new evidence, by time, at start-up)."}),
		scheduled: prometheus.NewCounter(prometheus.CounterOpts{Name: "healthcode_scheduled_evaluations_total",
			Help: "Code re-evaluations triggered by a rule's expiry."}),
		verified: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "healthcode_verifications_total",
			Help: "Online verifications of code tokens, by outcome (valid or the rejection code)."}, []string{"result"}),
		appealResolution: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "healthcode_appeal_resolution_seconds",
			Help:    "Time from filing to resolution of appeals resolved since start, by the resolver's level (county, city, province, national).",
			Buckets: prometheus.ExponentialBuckets(900, 2, 12)}, []string{"level"}),
		appealEscalations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "healthcode_appeal_escalations_total",
			Help: "Appeals moved one level up since start, by the region that missed the deadline."}, []string{"region"}),
	}
	if reg == nil {
		return m
	}
	reg.MustRegister(m.appealResolution, m.appealEscalations, openAppeals{n})
	reg.MustRegister(m.events, m.commits, m.groupSize, m.evaluations, m.scheduled, m.verified,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "healthcode_persons", Help: "Enrolled persons."},
			func() float64 { return float64(n.nPersons.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "healthcode_places", Help: "Registered places."},
			func() float64 { return float64(n.nPlaces.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "healthcode_events", Help: "Events in the log."},
			func() float64 { return float64(n.nEvents.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "healthcode_starred_codes", Help: "Codes with a star."},
			func() float64 { return float64(n.codes.stars.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "healthcode_write_queue", Help: "Write requests waiting for the writer."},
			func() float64 { return float64(len(n.writes)) }),
	)
	for c := health.Green; c <= health.Red; c++ {
		c := c
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "healthcode_codes_" + c.String(),
			Help: "Codes that are " + c.String() + "."}, func() float64 { return float64(n.codes.counts[c].Load()) }))
	}
	return m
}
