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
		"cases": "流调", "case": "病例流调", "not_found": "未找到", "no_case": "没有此病例：",
		"cases_help": "病例及其活动轨迹（只读）。只显示病例编号，不显示姓名、身份证号和电话；住址不显示。",
		"case_id":    "病例编号", "classification": "分类", "confirmed": "确诊", "asymptomatic": "无症状",
		"onset": "发病", "first_positive": "首次阳性", "site": "隔离点", "isolated_at": "隔离时间", "opened": "立案",
		"trajectory": "轨迹", "assignment": "协查", "n_stops": "个地点", "stops": "地点数", "no_trajectory": "尚无轨迹", "no_cases": "暂无病例",
		"pending": "待审核", "approved": "已通过", "returned": "已退回",
		"stop_from": "到达", "stop_to": "离开", "place": "地点", "transport": "交通", "entered_by": "录入人",
		"self_reported": "本人填报", "home": "住址", "home_masked": "住址（不显示）", "yes": "是",
		"carriage": "车厢", "row": "排", "seat": "座位",
		"findings": "自动审核发现", "no_findings": "未发现问题", "versions": "版本记录", "recorded": "录入时间",
		"review": "审核", "reviewer": "审核人", "chain": "传播链", "infection": "推断感染时间", "basis": "依据",
		"shared_stop": "共同暴露地点", "incubation": "按潜伏期推算", "shared": "共同暴露",
		"cst_note": "时间均为北京时间（UTC+8）。",
		"login":    "工作人员登录", "username": "用户名", "password": "密码", "otp": "动态验证码（官员、审计员、运维人员必填）",
		"login_help":   "流调页面仅限流调人员查看，请用本人工作账号登录。",
		"login_failed": "用户名、密码或动态验证码不正确。", "login_locked": "登录失败次数过多，账号已暂时锁定，请稍后再试。",
		"login_forbidden": "当前账号没有查看流调页面的权限（需要流调员角色）。",
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
		"cases": "Cases", "case": "Case investigation", "not_found": "Not found", "no_case": "No such case:",
		"cases_help": "Cases and their trajectories (read only). Cases are shown by case id only: no names, ID numbers or phones, and no home addresses.",
		"case_id":    "Case id", "classification": "Classification", "confirmed": "Confirmed", "asymptomatic": "Asymptomatic",
		"onset": "Onset", "first_positive": "First positive", "site": "Isolation site", "isolated_at": "Isolated", "opened": "Opened",
		"trajectory": "Trajectory", "assignment": "Assigned to", "n_stops": "stops", "stops": "Stops", "no_trajectory": "No trajectory yet", "no_cases": "No cases",
		"pending": "Pending review", "approved": "Approved", "returned": "Returned",
		"stop_from": "From", "stop_to": "To", "place": "Place", "transport": "Transport", "entered_by": "Entered by",
		"self_reported": "Self-reported", "home": "Home", "home_masked": "Home (not shown)", "yes": "yes",
		"carriage": "carriage", "row": "row", "seat": "seat",
		"findings": "Automatic review findings", "no_findings": "No problems found", "versions": "Versions", "recorded": "Recorded",
		"review": "Review", "reviewer": "Reviewer", "chain": "Chain of transmission", "infection": "Inferred infection", "basis": "Basis",
		"shared_stop": "shared stop", "incubation": "from incubation", "shared": "Shared stops",
		"cst_note": "Times are China Standard Time (UTC+8).",
		"login":    "Staff sign-in", "username": "Username", "password": "Password", "otp": "One-time code (officials, auditors, operators)",
		"login_help":   "The investigation pages are for investigators only: sign in with your own staff account.",
		"login_failed": "Wrong username, password or one-time code.", "login_locked": "Too many failed sign-ins: the account is locked for a while; try again later.",
		"login_forbidden": "This account may not see the investigation pages (they need the investigator role).",
	},
}

func formatCST(v any) string {
	t, ok := v.(time.Time)
	if !ok || t.IsZero() {
		return ""
	}
	return t.In(health.CST).Format("2006-01-02 15:04")
}
