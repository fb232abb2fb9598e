"""A small, stateful fake Moodle 4.4 web-service endpoint (REST) for tests.

It answers `POST /webservice/rest/server.php` (form parameters in PHP-array form, or the query
string) the way the recordings in ../shared/fixtures/moodle-4.4/ show Moodle doing it:
HTTP 200 for everything, error envelopes {exception, errorcode, message[, debuginfo]},
per-user `warnings` from core_user_update_users (`invaliduserid`, `usernotupdatedadmin`),
unknown custom fields silently ignored, a menu value that is not an option silently replaced
by the field's default, `[]` from core_user_get_users_by_field when the token's user may not
see other users or their identity fields (it still sees itself, as Moodle's code does),
competency ratings that add an evidence row on every call, a competency badge awarded once a
rating makes the learner proficient, XML when moodlewsrestformat is not `json`, and `\\/`
escaped slashes as PHP's json_encode writes them. tests/lms/test_moodle_double.py replays
every recorded call against it and compares. Answers that were not recorded (site info, a
missing user or competency in competency calls, core_competency_read_*) follow Moodle's
source; they are marked "modelled" below.

Use (tests/lms/conftest.py has the `moodle` fixture that does this)::

    double = MoodleDouble()
    with double.running():              # a thread on 127.0.0.1, a free port
        double.url                      # site URL, e.g. http://127.0.0.1:40123
        double.token                    # token of the service user (every capability)
        double.nocap_token              # token of a user holding only webservice/rest:use
        ada = double.add_user("ada", email="ada@example.org", idnumber="HR-1")
        double.users[ada.id].data       # custom profile field values {shortname: value}
        double.calls                    # [Call(function, params, token)], oldest first
        double.calls_to("core_user_update_users")
        double.answer_next(503, b"busy", {"Retry-After": "7"})   # raw answers queued first
        double.delay = 2.0              # seconds to wait before answering (timeouts)

Set-up at start: profile fields `readiness_director` (text) and `readiness_level` (menu
`not ready / emerging / developing / ready`, default `not ready`); users 1 guest, 2 admin
(site admin), 3 connector (the service user), 4 nocap; scale 2 (Not yet competent /
Competent, Competent proficient). `add_field`, `add_user`, `add_framework`,
`add_competency` and `add_badge` change it.
"""

from __future__ import annotations

import contextlib
import html
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import orjson
import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

ENDPOINT = "/webservice/rest/server.php"
ALL_CAPABILITIES = frozenset({
    "webservice/rest:use", "moodle/user:create", "moodle/user:update",
    "moodle/user:viewdetails", "moodle/user:viewalldetails", "moodle/site:viewuseridentity",
    "moodle/competency:competencyview", "moodle/competency:competencymanage",
    "moodle/competency:usercompetencyview", "moodle/competency:competencygrade",
})
SERVICE_FUNCTIONS = frozenset({
    "core_webservice_get_site_info", "core_user_get_users_by_field", "core_user_update_users",
    "core_user_create_users", "core_competency_grade_competency",
    "tool_lp_data_for_user_competency_summary", "core_competency_read_competency",
    "core_competency_read_competency_framework", "core_competency_create_competency_framework",
    "core_competency_create_competency", "core_badges_get_user_badges",
})
# Functions Moodle has but the service does not offer (answered with accessexception).
OTHER_FUNCTIONS = frozenset({"core_course_get_courses", "core_user_delete_users",
                             "core_webservice_get_site_info_legacy"})
CAPABILITY_NAMES = {
    "moodle/user:create": "Create users",
    "moodle/user:update": "Update user profiles",
    "moodle/competency:competencyview": "View competency frameworks",
    "moodle/competency:competencymanage": "Manage competency frameworks",
    "moodle/competency:usercompetencyview": "View a user competency",
    "moodle/competency:competencygrade": "Set competency rating",
}
ACCESS_MESSAGE = (
    "Access to the function {0}() is not allowed.\n"
    "                     There could be multiple reasons for this:\n"
    "                     1. The service linked to the user token does not contain the function.\n"
    "                     2. The service is user-restricted and the user is not listed.\n"
    "                     3. The service is IP-restricted and the user IP is not listed.\n"
    "                     4. The service is time-restricted and the time has expired.\n"
    "                     5. The token is time-restricted and the time has expired.\n"
    "                     6. The service requires a specific capability which the user does "
    "not have.\n"
    "                     7. The function is called with username/password (no user token is "
    "sent)\n"
    "                     and none of the services has the function to allow the user.\n"
    "                     These settings can be found in Administration > Site administration\n"
    "                     > Server > Web services > External services and Manage tokens."
)


class Fault(Exception):
    """An error envelope Moodle would answer."""

    def __init__(self, exception: str, errorcode: str, message: str,
                 debuginfo: str | None = None) -> None:
        super().__init__(message)
        self.envelope: dict[str, Any] = {"exception": exception, "errorcode": errorcode,
                                         "message": message}
        if debuginfo is not None:
            self.envelope["debuginfo"] = debuginfo


def invalid_parameter(debuginfo: str) -> Fault:
    return Fault("invalid_parameter_exception", "invalidparameter",
                 f"Invalid parameter value detected ({debuginfo})", debuginfo)


def missing_key(outer: str, key: str) -> Fault:
    inner = f"Missing required key in single structure: {key}"
    return invalid_parameter(f"{outer} => Invalid parameter value detected ({inner}): {inner}")


def missing_record(table: str, value: Any) -> Fault:  # modelled on dml_missing_record_exception
    debug = f"SELECT * FROM {{{table}}} WHERE id = ?\n[array (\n  0 => {value},\n)]"
    return Fault("dml_missing_record_exception", "invalidrecord",
                 f"Can't find data record in database table {table}. ({debug})", debug)


def nopermissions(capability: str) -> Fault:
    return Fault("required_capability_exception", "nopermissions",
                 "Sorry, but you do not currently have permissions to do that "
                 f"({CAPABILITY_NAMES.get(capability, capability)}).")


@dataclass
class ProfileField:
    shortname: str
    name: str
    type: str = "text"  # text | menu
    options: list[str] = field(default_factory=list)
    default: str = ""


@dataclass
class User:
    id: int
    username: str
    firstname: str
    lastname: str
    email: str
    idnumber: str = ""
    siteadmin: bool = False
    data: dict[str, str] = field(default_factory=dict)  # custom profile field values

    @property
    def fullname(self) -> str:
        return f"{self.firstname} {self.lastname}"


@dataclass
class Token:
    userid: int
    capabilities: frozenset[str]
    functions: frozenset[str] = SERVICE_FUNCTIONS


@dataclass
class Call:
    function: str
    params: dict[str, Any]
    token: str


class MoodleDouble:
    """State plus the WSGI app; see the module docstring."""

    def __init__(self, token: str = "f3e1c0ffee0000000000000000000001",
                 nocap_token: str = "f3e1c0ffee0000000000000000000002") -> None:
        self.url = "http://127.0.0.1:8080"  # replaced by the real one when running
        self.token = token
        self.nocap_token = nocap_token
        self.release = "4.4 (Build: 20231124)"
        self.fields: dict[str, ProfileField] = {}
        self.users: dict[int, User] = {}
        self.tokens: dict[str, Token] = {}
        self.scales = {2: ["Not yet competent", "Competent"]}
        self.frameworks: dict[int, dict[str, Any]] = {}
        self.competencies: dict[int, dict[str, Any]] = {}
        self.user_competencies: dict[tuple[int, int], dict[str, Any]] = {}
        self.evidence: list[dict[str, Any]] = []
        self.badges: dict[int, dict[str, Any]] = {}  # id -> {name, competency_id, awarded}
        self.calls: list[Call] = []
        self.queued: list[tuple[int, bytes, dict[str, str]]] = []
        self.delay = 0.0
        self.maintenance = False
        self._lock = threading.Lock()
        self._clock = 1795861980
        self.add_field("readiness_director", "Readiness: Director")
        self.add_field("readiness_level", "Readiness level", "menu",
                       ["not ready", "emerging", "developing", "ready"], "not ready")
        self.add_user("guest", "Guest user", "", email="root@localhost")
        self.add_user("admin", "Admin", "User", email="admin@example.invalid", siteadmin=True)
        service = self.add_user("connector", "Readiness", "Connector",
                                email="connector@example.invalid")
        nocap = self.add_user("nocap", "No", "Capabilities", email="nocap@example.invalid")
        self.tokens[token] = Token(service.id, ALL_CAPABILITIES)
        self.tokens[nocap_token] = Token(nocap.id, frozenset({"webservice/rest:use"}))

    # -- set-up ---------------------------------------------------------------------------------

    def add_field(self, shortname: str, name: str, type: str = "text",
                  options: list[str] | None = None, default: str = "") -> ProfileField:
        self.fields[shortname] = ProfileField(shortname, name, type, list(options or []), default)
        return self.fields[shortname]

    def add_user(self, username: str, firstname: str = "Ada", lastname: str = "Lovelace", *,
                 email: str = "", idnumber: str = "", siteadmin: bool = False,
                 **data: str) -> User:
        uid = max(self.users, default=0) + 1
        self.users[uid] = User(uid, username, firstname, lastname,
                               email or f"{username}@example.invalid", idnumber, siteadmin,
                               dict(data))
        return self.users[uid]

    def add_framework(self, shortname: str = "LDLEAD", proficient: tuple[int, ...] = (2,),
                      scaleid: int = 2) -> int:
        fid = max(self.frameworks, default=0) + 1
        config = [{"scaleid": str(scaleid)}] + [
            {"id": i, "scaledefault": 1 if i == 1 else 0, "proficient": 1 if i in proficient
             else 0} for i in range(1, len(self.scales[scaleid]) + 1)]
        self.frameworks[fid] = self._framework_record(fid, {
            "shortname": shortname, "idnumber": shortname, "description": "",
            "scaleid": scaleid, "scaleconfiguration": _php_json(config), "contextid": 1})
        return fid

    def add_competency(self, shortname: str = "Strategic planning",
                       framework_id: int | None = None) -> int:
        fid = framework_id or (min(self.frameworks) if self.frameworks else self.add_framework())
        cid = max(self.competencies, default=0) + 1
        self.competencies[cid] = self._competency_record(cid, {
            "shortname": shortname, "idnumber": f"C{cid}", "competencyframeworkid": fid})
        return cid

    def add_badge(self, name: str, competency_id: int) -> int:
        bid = max(self.badges, default=0) + 1
        self.badges[bid] = {"name": name, "competency_id": competency_id, "awarded": {}}
        return bid

    def answer_next(self, status: int, body: bytes = b"",
                    headers: dict[str, str] | None = None) -> None:
        """Answer the next request with this, whatever it asks (errors, proxies, HTML)."""
        self.queued.append((status, body, dict(headers or {})))

    def calls_to(self, function: str) -> list[Call]:
        return [c for c in self.calls if c.function == function]

    @contextlib.contextmanager
    def running(self) -> Iterator[MoodleDouble]:
        server = make_server("127.0.0.1", 0, self.wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{server.server_port}"
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            thread.join(5)
            server.server_close()

    # -- HTTP -----------------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self._respond(request)
        return response(environ, start_response)

    def _respond(self, request: Request) -> Response:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            if self.queued:
                status, body, headers = self.queued.pop(0)
                return Response(body, status, headers)
            if request.path != ENDPOINT:
                return Response("<html><title>Not found</title></html>", 404,
                                content_type="text/html")
            flat = {**request.args.to_dict(), **request.form.to_dict()}
            token = flat.pop("wstoken", "")
            function = flat.pop("wsfunction", "")
            fmt = flat.pop("moodlewsrestformat", "xml")
            params = parse_php_params(flat)
            self.calls.append(Call(function, params, token))
            try:
                result: Any = self._dispatch(token, function, params)
                error = False
            except Fault as fault:
                result, error = fault.envelope, True
        if fmt == "json":
            body = orjson.dumps(result).replace(b"/", b"\\/")
            return Response(body, 200, content_type="application/json")
        return Response(_xml(result, error), 200, content_type="application/xml; charset=utf-8")

    def _dispatch(self, token: str, function: str, params: dict[str, Any]) -> Any:
        if self.maintenance:
            raise Fault("moodle_exception", "sitemaintenance",
                        "Site is undergoing maintenance and is currently not available")
        if token not in self.tokens:
            raise Fault("moodle_exception", "invalidtoken", "Invalid token - token not found")
        caller = self.tokens[token]
        if function not in SERVICE_FUNCTIONS | OTHER_FUNCTIONS:
            debug = (f"SELECT * FROM {{external_functions}} WHERE name = ?\n[array (\n  0 => "
                     f"'{function}',\n)]")
            raise Fault("dml_missing_record_exception", "invalidrecord",
                        f"Can't find data record in database table external_functions. "
                        f"({debug})", debug)
        if function not in caller.functions:
            message = ACCESS_MESSAGE.format(function)
            raise Fault("webservice_access_exception", "accessexception",
                        f"Access control exception ({message})", message)
        handler = getattr(self, "_" + function)
        return handler(caller, params)

    # -- users ----------------------------------------------------------------------------------

    def _core_webservice_get_site_info(self, caller: Token, params: dict[str, Any]) -> Any:
        # modelled (not recorded): the keys of Moodle 4.4's get_site_info_returns()
        user = self.users[caller.userid]
        return {
            "sitename": "Connector E2E Moodle", "username": user.username,
            "firstname": user.firstname, "lastname": user.lastname,
            "fullname": user.fullname, "lang": "en", "userid": user.id, "siteurl": self.url,
            "userpictureurl": f"{self.url}/theme/image.php/boost/core/1795861956/u/f1",
            "functions": [{"name": f, "version": "2024042200"} for f in sorted(caller.functions)],
            "downloadfiles": 0, "uploadfiles": 0, "release": self.release,
            "version": "2024042200", "mobilecssurl": "",
            "advancedfeatures": [{"name": "usecomments", "value": 1},
                                 {"name": "enablecompetencies", "value": 1}],
            "usercanmanageownfiles": True, "userquota": 104857600,
            "usermaxuploadfilesize": 104857600, "userhomepage": 1,
            "userprivateaccesskey": "0123456789abcdef", "siteid": 1,
            "sitecalendartype": "gregorian", "usercalendartype": "gregorian",
            "userissiteadmin": user.siteadmin, "theme": "boost", "limitconcurrentlogins": 0,
            "policyagreed": 0,
        }

    def _core_user_get_users_by_field(self, caller: Token, params: dict[str, Any]) -> Any:
        for key in ("field", "values"):
            if key not in params:
                raise invalid_parameter(f"Missing required key in single structure: {key}")
        name = params["field"]
        if name not in ("id", "idnumber", "username", "email"):
            debug = (f"The search field '{name}' is not supported, look at the web service "
                     "documentation")
            raise Fault("coding_exception", "codingerror", "Coding error detected, it must be "
                        f"fixed by a programmer: invalid field parameter ({debug})", debug)
        wanted = []
        for value in _values(params["values"]):
            cleaned = _clean(name, value)
            if cleaned != value:
                debug = (f"The field '{name}' value is invalid: {value}(cleaned value: "
                         f"{cleaned})")
                raise invalid_parameter(debug)
            wanted.append(cleaned)
        out = []
        for user in sorted(self.users.values(), key=lambda u: u.id):
            if str(getattr(user, name)) in wanted:  # exact, as on PostgreSQL
                details = self._details(user, caller)
                if details and details.get(name):
                    out.append(details)
        return out

    def _details(self, user: User, caller: Token) -> dict[str, Any] | None:
        own = user.id == caller.userid
        if not own and "moodle/user:viewalldetails" not in caller.capabilities:
            return None
        identity = own or "moodle/site:viewuseridentity" in caller.capabilities
        pictures = f"{self.url}/theme/image.php/boost/core/1795861956/u/"
        out: dict[str, Any] = {"id": user.id, "username": user.username,
                               "fullname": user.fullname}
        if identity:
            out["email"] = user.email
        out["department"] = ""
        if identity and user.idnumber:
            out["idnumber"] = user.idnumber
        out.update({"firstaccess": 0, "lastaccess": 0, "auth": "manual", "suspended": False,
                    "confirmed": True, "lang": "en", "theme": "", "timezone": "99",
                    "mailformat": 1, "profileimageurlsmall": pictures + "f2",
                    "profileimageurl": pictures + "f1"})
        custom = []
        for f in self.fields.values():
            value = user.data.get(f.shortname, f.default)
            if value == "" and value != "0":
                continue  # profile_field_base::is_empty()
            custom.append({"type": f.type, "value": value,
                           "displayvalue": html.escape(value, quote=False), "name": f.name,
                           "shortname": f.shortname})
        if custom:
            out["customfields"] = custom
        return out

    def _core_user_update_users(self, caller: Token, params: dict[str, Any]) -> Any:
        users = _values(params.get("users", []))
        for item in users:
            if not isinstance(item, dict) or "id" not in item:
                raise missing_key("users", "id")
            for custom in _values(item.get("customfields", [])):
                for key in ("type", "value"):
                    if not isinstance(custom, dict) or key not in custom:
                        raise missing_key("users", key)
        if "moodle/user:update" not in caller.capabilities:
            raise nopermissions("moodle/user:update")
        warnings = []
        me = self.users[caller.userid]
        for item in users:
            uid = _int(item["id"])
            user = self.users.get(uid)
            if user is None:
                warnings.append({"item": "user", "itemid": uid, "warningcode": "invaliduserid",
                                 "message": "Invalid user ID (Invalid user ID)"})
                continue
            if user.id != me.id and user.siteadmin and not me.siteadmin:
                warnings.append({"item": "user", "itemid": uid,
                                 "warningcode": "usernotupdatedadmin",
                                 "message": "Cannot update admin accounts (Cannot update admin "
                                            "accounts)"})
                continue
            for key in ("firstname", "lastname", "email", "idnumber"):
                if key in item:
                    setattr(user, key, str(item[key]))
            for custom in _values(item.get("customfields", [])):
                definition = self.fields.get(custom["type"])
                if definition is None:
                    continue  # silently ignored
                value = str(custom["value"])
                if definition.type == "menu" and value not in definition.options:
                    value = definition.default  # silently reset
                user.data[definition.shortname] = value
        return {"warnings": warnings}

    def _core_user_create_users(self, caller: Token, params: dict[str, Any]) -> Any:
        users = _values(params.get("users", []))
        for item in users:
            for key in ("username", "firstname", "lastname", "email"):
                if not isinstance(item, dict) or key not in item:
                    raise missing_key("users", key)
        if "moodle/user:create" not in caller.capabilities:
            raise nopermissions("moodle/user:create")
        out = []
        for item in users:
            user = self.add_user(item["username"], item["firstname"], item["lastname"],
                                 email=item["email"], idnumber=item.get("idnumber", ""))
            out.append({"id": user.id, "username": user.username})
        return out

    # -- competencies ---------------------------------------------------------------------------

    def _tick(self) -> int:
        self._clock += 1
        return self._clock

    def _framework_record(self, fid: int, given: dict[str, Any]) -> dict[str, Any]:
        now = self._tick()
        return {"shortname": given["shortname"], "idnumber": given["idnumber"],
                "description": html.escape(given.get("description", ""), quote=False),
                "descriptionformat": 1, "visible": True, "scaleid": _int(given["scaleid"]),
                "scaleconfiguration": given["scaleconfiguration"],
                "contextid": _int(given.get("contextid", 1)), "taxonomies": "", "id": fid,
                "timecreated": now, "timemodified": now, "usermodified": 3, "canmanage": True,
                "competenciescount": 0, "contextname": "System", "contextnamenoprefix": "System"}

    def _competency_record(self, cid: int, given: dict[str, Any]) -> dict[str, Any]:
        now = self._tick()
        return {"shortname": html.escape(given["shortname"], quote=False),
                "idnumber": given["idnumber"], "description": "", "descriptionformat": 1,
                "sortorder": 0, "parentid": 0, "path": "/0/", "ruleoutcome": 0,
                "ruletype": None, "ruleconfig": None, "scaleid": None,
                "scaleconfiguration": None,
                "competencyframeworkid": _int(given["competencyframeworkid"]), "id": cid,
                "timecreated": now, "timemodified": now, "usermodified": 3}

    def _need(self, caller: Token, capability: str) -> None:
        if capability not in caller.capabilities:
            raise nopermissions(capability)

    def _core_competency_create_competency_framework(self, caller: Token,
                                                     params: dict[str, Any]) -> Any:
        given = params.get("competencyframework")
        for key in ("shortname", "idnumber", "scaleid", "scaleconfiguration", "contextid"):
            if not isinstance(given, dict) or key not in given:
                raise missing_key("competencyframework", key)
        self._need(caller, "moodle/competency:competencymanage")
        fid = max(self.frameworks, default=0) + 1
        self.frameworks[fid] = self._framework_record(fid, given)
        return self.frameworks[fid]

    def _core_competency_create_competency(self, caller: Token, params: dict[str, Any]) -> Any:
        given = params.get("competency")
        for key in ("shortname", "idnumber", "competencyframeworkid"):
            if not isinstance(given, dict) or key not in given:
                raise missing_key("competency", key)
        self._need(caller, "moodle/competency:competencymanage")
        cid = max(self.competencies, default=0) + 1
        self.competencies[cid] = self._competency_record(cid, given)
        self.frameworks[_int(given["competencyframeworkid"])]["competenciescount"] += 1
        return self.competencies[cid]

    def _core_competency_read_competency(self, caller: Token, params: dict[str, Any]) -> Any:
        # modelled (not recorded)
        self._need(caller, "moodle/competency:competencyview")
        cid = _int(params.get("id"))
        if cid not in self.competencies:
            raise missing_record("competency", cid)
        return self.competencies[cid]

    def _core_competency_read_competency_framework(self, caller: Token,
                                                   params: dict[str, Any]) -> Any:
        # modelled (not recorded)
        self._need(caller, "moodle/competency:competencyview")
        fid = _int(params.get("id"))
        if fid not in self.frameworks:
            raise missing_record("competency_framework", fid)
        return self.frameworks[fid]

    def _scale_of(self, competency: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
        framework = self.frameworks[competency["competencyframeworkid"]]
        config = competency["scaleconfiguration"] or framework["scaleconfiguration"]
        items = orjson.loads(config)
        return int(items[0]["scaleid"]), items[1:]

    def _user_competency(self, caller: Token, params: dict[str, Any]) -> tuple[User, dict, dict]:
        self._need(caller, "moodle/competency:usercompetencyview")
        uid, cid = _int(params.get("userid")), _int(params.get("competencyid"))
        if uid not in self.users:  # modelled
            raise missing_record("user", uid)
        if cid not in self.competencies:  # modelled
            raise missing_record("competency", cid)
        key = (uid, cid)
        if key not in self.user_competencies:  # api::get_user_competency creates it
            now = self._tick()
            self.user_competencies[key] = {
                "userid": uid, "competencyid": cid, "status": 0, "reviewerid": None,
                "proficiency": None, "grade": None, "id": len(self.user_competencies) + 1,
                "timecreated": now, "timemodified": now, "usermodified": caller.userid}
        return self.users[uid], self.competencies[cid], self.user_competencies[key]

    def _core_competency_grade_competency(self, caller: Token, params: dict[str, Any]) -> Any:
        for key in ("userid", "competencyid", "grade"):
            if key not in params:
                raise invalid_parameter(f"Missing required key in single structure: {key}")
        user, competency, uc = self._user_competency(caller, params)
        self._need(caller, "moodle/competency:competencygrade")
        grade = _int(params["grade"])
        scaleid, items = self._scale_of(competency)
        if not 1 <= grade <= len(self.scales[scaleid]):
            raise Fault("core\\invalid_persistent_exception", "invalidpersistenterror",
                        "Error: Invalid rating (grade: Invalid rating)", "grade: Invalid rating")
        proficient = any(i.get("id") == grade and i.get("proficient") for i in items)
        uc.update(grade=grade, proficiency=proficient, timemodified=self._tick())
        now = self._tick()
        record = {
            "usercompetencyid": uc["id"], "contextid": 12, "action": 3,
            "actionuserid": caller.userid, "descidentifier": "evidence_manualoverride",
            "desccomponent": "core_competency", "desca": None, "url": None, "grade": grade,
            "note": params.get("note"), "id": len(self.evidence) + 1, "timecreated": now,
            "timemodified": now, "usermodified": caller.userid,
        }
        self.evidence.append(record)
        if proficient:
            for badge in self.badges.values():
                if badge["competency_id"] == competency["id"]:
                    badge["awarded"].setdefault(user.id, now)
        return self._evidence_out(record, scaleid)

    def _evidence_out(self, record: dict[str, Any], scaleid: int) -> dict[str, Any]:
        grade = record["grade"]
        return {**record, "actionuser": self._user_summary(self.users[record["actionuserid"]]),
                "description": "The competency rating was manually set.",
                "gradename": self.scales[scaleid][grade - 1] if grade else "-",
                "userdate": time.strftime("%A, %d %B %Y, %I:%M %p",
                                          time.gmtime(record["timecreated"])),
                "candelete": False}

    def _user_summary(self, user: User) -> dict[str, Any]:
        return {"id": user.id, "email": user.email, "idnumber": user.idnumber, "phone1": "",
                "phone2": "", "department": "", "institution": "", "fullname": user.fullname,
                "identity": user.email, "profileurl": f"{self.url}/user/profile.php?id={user.id}",
                "profileimageurl": f"{self.url}/theme/image.php/boost/core/1795861956/u/f1",
                "profileimageurlsmall": f"{self.url}/theme/image.php/boost/core/1795861956/u/f2"}

    def _tool_lp_data_for_user_competency_summary(self, caller: Token,
                                                  params: dict[str, Any]) -> Any:
        user, competency, uc = self._user_competency(caller, params)
        framework = self.frameworks[competency["competencyframeworkid"]]
        scaleid, _ = self._scale_of(competency)
        names = self.scales[scaleid]
        plugin = f"{self.url}/admin/tool/lp"
        status_idle = uc["status"] == 0
        evidence = [self._evidence_out(e, scaleid) for e in reversed(self.evidence)
                    if e["usercompetencyid"] == uc["id"]]
        return {
            "showrelatedcompetencies": True, "cangrade": True,
            "competency": {
                "linkedcourses": [], "relatedcompetencies": [], "competency": competency,
                "framework": framework, "hascourses": False, "hasrelatedcompetencies": False,
                "scaleid": scaleid, "scaleconfiguration": framework["scaleconfiguration"],
                "taxonomyterm": "Competency",
                "comppath": {"ancestors": [], "framework": {
                    "id": framework["id"], "name": framework["shortname"], "first": False,
                    "last": False, "position": -1}, "pluginbaseurl": plugin,
                    "pagecontextid": 1, "showlinks": True},
                "pluginbaseurl": plugin,
            },
            "user": self._user_summary(user),
            "usercompetency": {
                **uc, "canrequestreview": False, "canreview": False,
                "gradename": names[uc["grade"] - 1] if uc["grade"] else "-",
                "isrequestreviewallowed": False, "iscancelreviewrequestallowed": False,
                "isstartreviewallowed": False, "isstopreviewallowed": False,
                "isstatusidle": status_idle, "isstatusinreview": False,
                "isstatuswaitingforreview": False,
                "proficiencyname": {True: "Yes", False: "No"}.get(uc["proficiency"], "-"),
                "statusname": "-", "url": f"{plugin}/user_competency.php?id={uc['id']}",
            },
            "evidence": evidence,
            "commentarea": {
                "component": "competency", "commentarea": "user_competency",
                "itemid": uc["id"], "courseid": 1, "contextid": 12, "cid": "6b0aaddfb4fc9",
                "autostart": False, "canpost": False, "canview": True, "count": 0,
                "collapsediconkey": "t/collapsed", "displaytotalcount": True,
                "displaycancel": False, "fullwidth": True, "linktext": "Comments",
                "notoggle": False, "template": "<div class=\"comment-message\"></div>",
                "canpostorhascomments": False,
            },
        }

    def _core_badges_get_user_badges(self, caller: Token, params: dict[str, Any]) -> Any:
        uid = _int(params.get("userid", 0)) or caller.userid
        out = []
        for bid, badge in sorted(self.badges.items()):
            if uid not in badge["awarded"]:
                continue
            out.append({
                "id": bid, "name": badge["name"], "description": badge["name"],
                "timecreated": 0, "timemodified": 0, "issuername": "Connector E2E Moodle",
                "issuerurl": self.url + "/", "issuercontact": "", "type": 1, "attachment": 1,
                "notification": 1, "status": 0, "uniquehash": f"{bid:040x}",
                "dateissued": badge["awarded"][uid], "dateexpire": None, "visible": 0,
                "version": "1", "language": "en", "imageauthorname": "",
                "imageauthoremail": "", "imageauthorurl": "", "imagecaption": "",
                "badgeurl": f"{self.url}/webservice/pluginfile.php/1/badges/badgeimage/{bid}/f3",
                "alignment": [], "relatedbadges": [],
            })
        return {"badges": out, "warnings": []}


# -- helpers ------------------------------------------------------------------------------------

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def parse_php_params(flat: dict[str, str]) -> dict[str, Any]:
    """`users[0][customfields][0][type]=…` as nested dicts; numeric-keyed dicts become lists
    (PHP arrays), as Moodle's parameter validation sees them."""
    root: dict[str, Any] = {}
    for key, value in flat.items():
        match = _KEY.match(key)
        if not match:
            continue
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[parts[-1]] = value
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    node = {k: _listify(v) for k, v in node.items()}
    if node and all(k.isdigit() for k in node):
        return [node[k] for k in sorted(node, key=int)]
    return node


def _values(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return []


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid_parameter(f"Invalid external api parameter: the value is \"{value}\", "
                                "the server was expecting \"int\" type") from None


def _clean(name: str, value: str) -> str:
    """Moodle's clean_param for the lookup fields (PARAM_INT, PARAM_USERNAME, PARAM_RAW...)."""
    if name == "id":
        match = re.match(r"^-?\d+", value.strip())
        return match.group(0) if match else "0"
    if name == "username":
        return re.sub(r"[^a-z0-9._@-]", "", value.strip().lower())
    if name == "email":
        return value.strip()
    return value


def _php_json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _xml(value: Any, error: bool) -> bytes:
    """Moodle's REST XML: <EXCEPTION> for errors, <RESPONSE> with SINGLE/MULTIPLE/VALUE."""
    head = '<?xml version="1.0" encoding="UTF-8" ?>\n'
    if error:
        return (head + f'<EXCEPTION class="{value["exception"]}">\n'
                f'<ERRORCODE>{xml_escape(value["errorcode"])}</ERRORCODE>\n'
                f'<MESSAGE>{xml_escape(value["message"])}</MESSAGE>\n</EXCEPTION>\n').encode()
    return (head + "<RESPONSE>\n" + _xml_value(value) + "</RESPONSE>\n").encode()


def _xml_value(value: Any) -> str:
    if isinstance(value, dict):
        keys = "".join(f'<KEY name="{k}">{_xml_value(v)}</KEY>\n' for k, v in value.items())
        return f"<SINGLE>\n{keys}</SINGLE>\n"
    if isinstance(value, list):
        return "<MULTIPLE>\n" + "".join(_xml_value(v) for v in value) + "</MULTIPLE>\n"
    if value is None:
        return '<VALUE null="null"/>'
    if isinstance(value, bool):
        value = int(value)
    return f"<VALUE>{xml_escape(str(value))}</VALUE>\n"


@pytest.fixture
def moodle() -> Iterator[MoodleDouble]:
    """A running MoodleDouble (import this fixture into a test module to use it)."""
    double = MoodleDouble()
    with double.running():
        yield double
