package web

import (
	"time"

	"healthcode/internal/health"
)

// messages holds the console's text: zh-CN first, English available.
var messages = map[string]map[string]string{
	"zh": {
		"app": "健康码与流调系统", "overview": "总览", "places": "场所码", "rules": "赋码规则", "code": "查看健康码",
		"persons": "登记人数", "nplaces": "场所", "visits": "扫码记录", "tests": "核酸结果", "events": "事件",
		"codes": "健康码颜色分布", "green": "绿码", "yellow": "黄码", "red": "红码", "starred": "带星号",
		"top_reasons": "主要赋码原因", "rule": "规则", "count": "人数", "areas": "当前风险区",
		"region": "地区", "level": "等级", "from": "起始", "until": "截止", "high": "高风险", "medium": "中风险",
		"none": "无", "name": "名称", "kind": "类型", "qr": "场所码", "next": "下一页",
		"version": "版本", "published": "发布", "each": "证据", "when": "条件", "colour": "颜色",
		"kinds": "场所类型（停留时长与最短接触时长）", "dwell": "默认停留", "overlap": "最短重叠",
		"person_id": "人员编号", "token": "个人令牌", "show": "查看", "reasons": "赋码原因与证据",
		"evidence": "证据事件", "valid_until": "有效期至", "last_test": "最近核酸", "no_reason": "无异常记录",
		"code_help": "输入人员编号与个人令牌（登记时返回）查看健康码及其原因。",
		"unsigned":  "二维码为节点签名的令牌（5分钟内有效），任何核验点可离线核验：只显示颜色、星标、有效期和打码姓名。",
		"lang":      "English", "star_note": "带星号：7天内到访城市有中高风险区",
	},
	"en": {
		"app": "Health code & tracing", "overview": "Overview", "places": "Place codes", "rules": "Rules", "code": "View a code",
		"persons": "Persons", "nplaces": "Places", "visits": "Visits", "tests": "Test results", "events": "Events",
		"codes": "Codes by colour", "green": "Green", "yellow": "Yellow", "red": "Red", "starred": "Starred",
		"top_reasons": "Top reasons", "rule": "Rule", "count": "Persons", "areas": "Risk areas in force",
		"region": "Region", "level": "Level", "from": "From", "until": "Until", "high": "High", "medium": "Medium",
		"none": "None", "name": "Name", "kind": "Kind", "qr": "Place code", "next": "Next page",
		"version": "Version", "published": "Published", "each": "Evidence", "when": "Condition", "colour": "Colour",
		"kinds": "Place kinds (dwell and minimum overlap)", "dwell": "Dwell", "overlap": "Min. overlap",
		"person_id": "Person id", "token": "Person token", "show": "Show", "reasons": "Reasons and evidence",
		"evidence": "Evidence events", "valid_until": "Valid until", "last_test": "Last test", "no_reason": "No adverse record",
		"code_help": "Enter a person id and the person's token (returned at enrolment) to see the code and why.",
		"unsigned":  "The QR holds a token signed by the node (valid 5 minutes) that any gate can verify offline; it shows only colour, star, validity and the masked name.",
		"lang":      "中文", "star_note": "Star: visited a city with a medium/high risk area within 7 days",
	},
}

func formatCST(v any) string {
	t, ok := v.(time.Time)
	if !ok || t.IsZero() {
		return ""
	}
	return t.In(health.CST).Format("2006-01-02 15:04")
}
