package review

import (
	"strconv"
	"time"
)

// cst is China Standard Time (UTC+8, no daylight saving), the zone of the
// times in messages.
var cst = time.FixedZone("CST", 8*60*60)

// lang is a language of the messages.
type lang int

// The languages.
const (
	zh lang = iota
	en
)

// modeNames name the modes: id in Finding.Detail, zh and en in messages.
var modeNames = [...]struct{ id, zh, en string }{
	road:   {"road", "道路交通", "road transport"},
	train:  {"train", "火车", "train"},
	flight: {"flight", "飞机", "flight"},
}

// minuteLayout formats an instant to the minute.
const minuteLayout = "2006-01-02 15:04"

// label names a stop for a message: its place and its times in CST.
func label(s Stop, l lang) string {
	name := s.PlaceName
	switch {
	case name != "":
	case s.Place == 0 && l == zh:
		name = "未知地点"
	case s.Place == 0:
		name = "unknown place"
	case l == zh:
		name = "场所#" + strconv.FormatUint(uint64(s.Place), 10)
	default:
		name = "place #" + strconv.FormatUint(uint64(s.Place), 10)
	}
	from, end := s.From.In(cst), s.end().In(cst)
	times := from.Format(minuteLayout)
	switch {
	case end.Equal(from):
	case end.Format(time.DateOnly) == from.Format(time.DateOnly):
		times += "–" + end.Format("15:04")
	default:
		times += "–" + end.Format(minuteLayout)
	}
	if l == zh {
		return "「" + name + "」（" + times + "）"
	}
	return name + " (" + times + ")"
}

// period describes the infectious period [from, to), one of which is set.
func period(from, to time.Time, l lang) string {
	a, b := from.In(cst).Format(minuteLayout), to.In(cst).Format(minuteLayout)
	switch {
	case from.IsZero() && l == zh:
		return "至" + b
	case from.IsZero():
		return "until " + b
	case to.IsZero() && l == zh:
		return a + "起"
	case to.IsZero():
		return "from " + a
	}
	return a + "–" + b
}

// duration formats d, rounded to the minute, in hours and minutes.
func duration(d time.Duration, l lang) string {
	d = d.Round(time.Minute)
	h := strconv.FormatInt(int64(d/time.Hour), 10)
	m := strconv.FormatInt(int64(d%time.Hour/time.Minute), 10)
	hours, minutes, sep := "小时", "分钟", ""
	if l == en {
		hours, minutes, sep = " h", " min", " "
	}
	switch {
	case h == "0":
		return m + minutes
	case m == "0":
		return h + hours
	}
	return h + hours + sep + m + minutes
}

// number formats x with the given number of decimal places.
func number(x float64, places int) string {
	return strconv.FormatFloat(x, 'f', places, 64)
}
