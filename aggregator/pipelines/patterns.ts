/**
 * The building blocks of the `pattern` step: named regex fragments that a
 * pattern refers to as %{NAME} or %{NAME:field} or %{NAME:field:type}.
 * Every block is written so that it cannot backtrack badly by itself
 * (negated classes that stop at the next delimiter, no nested repetition):
 * lib/regex-safety.ts checks the whole compiled pattern anyway.
 *
 * The presets (NGINX_ACCESS, SYSLOG_RFC3164, ...) are blocks too, with their
 * fields in ECS names; docs/pipelines.md has the table.
 */

export const BLOCKS: Readonly<Record<string, string>> = {
  // numbers and words
  INT: '[+-]?\\d{1,20}',
  POSINT: '\\d{1,20}',
  NUMBER: '[+-]?\\d{1,20}(?:\\.\\d{1,20})?',
  BASE16NUM: '(?:0[xX])?[0-9A-Fa-f]{1,32}',
  WORD: '\\w+',
  NOTSPACE: '\\S+',
  SPACE: '\\s*',
  // text up to a delimiter: use these, not .*?, between delimiters
  DATA: '.*?',
  GREEDYDATA: '[\\s\\S]*',
  QUOTEDSTRING: '"(?:[^"\\\\]|\\\\[\\s\\S])*"',
  QS: '%{QUOTEDSTRING}',
  /** the inside of a double-quoted string, without the quotes */
  QSBODY: '(?:[^"\\\\]|\\\\[\\s\\S])*',
  BRACKETED: '\\[[^\\]]*\\]',
  // network
  IPV4: '(?:\\d{1,3}\\.){3}\\d{1,3}',
  IPV6: '[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:.]{1,45}(?:%[0-9A-Za-z]{1,16})?',
  IP: '(?:%{IPV4}|%{IPV6})',
  HOSTNAME: '[0-9A-Za-z][0-9A-Za-z._-]{0,254}',
  IPORHOST: '(?:%{IP}|%{HOSTNAME})',
  HOSTPORT: '%{IPORHOST}:%{POSINT}',
  USER: '[^\\s:@]+',
  // http
  HTTPMETHOD: '[A-Z][A-Z_-]{0,31}',
  URIPATHPARAM: '[^\\s"]+',
  HTTPVERSION: '\\d(?:\\.\\d)?',
  // time
  MONTH: '(?:[Jj]an|[Ff]eb|[Mm]ar|[Aa]pr|[Mm]ay|[Jj]un|[Jj]ul|[Aa]ug|[Ss]ep|[Oo]ct|[Nn]ov|[Dd]ec)[a-z]{0,6}',
  HTTPDATE: '\\d{2}/[A-Za-z]{3}/\\d{4}:\\d{2}:\\d{2}:\\d{2}(?:\\.\\d{1,9})? [+-]\\d{4}',
  SYSLOGTIMESTAMP: '[A-Za-z]{3} [ \\d]?\\d \\d{2}:\\d{2}:\\d{2}(?:\\.\\d{1,9})?',
  TIMESTAMP_ISO8601: '\\d{4}-\\d{2}-\\d{2}[Tt ]\\d{2}:\\d{2}:\\d{2}(?:[.,]\\d{1,9})?(?:[Zz]|[+-]\\d{2}:?\\d{2})?',
  NGINX_ERROR_TIME: '\\d{4}/\\d{2}/\\d{2} \\d{2}:\\d{2}:\\d{2}',
  LOGLEVEL: '[A-Za-z]{1,16}',
  // syslog
  SYSLOGHOST: '[^\\s\\[\\]:]+',
  SYSLOGPROG: '[^\\s\\[\\]:]+',
  SYSLOG_SD: '\\[(?:[^\\\\\\]]|\\\\[\\s\\S]|\\]\\[)*\\]',

  // --- presets (ECS field names) ---
  /** nginx "combined" and Apache "combined"/"common" access logs */
  NGINX_ACCESS:
    '%{IP:source.ip} \\S+ (?:-|%{USERNAME_NOTSPACE:user.name}) \\[%{HTTPDATE:_pattern.time}\\] ' +
    '"(?:%{HTTPMETHOD:http.request.method} %{URIPATHPARAM:url.original:unescape}(?: HTTP/%{HTTPVERSION:http.version})?|%{QSBODY:_pattern.request:unescape})" ' +
    '%{POSINT:http.response.status_code:int} (?:-|%{POSINT:http.response.body.bytes:int})' +
    '(?: "(?:-|%{QSBODY:http.request.referrer:unescape})" "(?:-|%{QSBODY:user_agent.original:unescape})")?',
  USERNAME_NOTSPACE: '\\S+',
  APACHE_ACCESS: '(?:%{IP:source.ip}|%{HOSTNAME:source.domain}) \\S+ (?:-|%{USERNAME_NOTSPACE:user.name}) \\[%{HTTPDATE:_pattern.time}\\] ' +
    '"(?:%{HTTPMETHOD:http.request.method} %{URIPATHPARAM:url.original:unescape}(?: HTTP/%{HTTPVERSION:http.version})?|%{QSBODY:_pattern.request:unescape})" ' +
    '%{POSINT:http.response.status_code:int} (?:-|%{POSINT:http.response.body.bytes:int})' +
    '(?: "(?:-|%{QSBODY:http.request.referrer:unescape})" "(?:-|%{QSBODY:user_agent.original:unescape})")?',
  /** 2026/12/01 18:14:55 [error] 123#0: *5 message, client: 1.2.3.4, server: x, request: "GET / HTTP/1.1" */
  NGINX_ERROR: '%{NGINX_ERROR_TIME:_pattern.time} \\[%{LOGLEVEL:log.level}\\] %{POSINT:process.pid:int}#%{POSINT:process.thread.id:int}: (?:\\*%{POSINT:nginx.error.connection_id:int} )?%{GREEDYDATA:message}',
  /** [Tue Dec 01 18:14:55.123456 2026] [core:error] [pid 123:tid 456] [client 1.2.3.4:5678] message */
  APACHE_ERROR:
    '\\[%{APACHE_ERROR_TIME:_pattern.apache_time}\\] \\[(?:%{WORD:apache.error.module}:)?%{LOGLEVEL:log.level}\\] \\[pid %{POSINT:process.pid:int}(?::tid %{POSINT:process.thread.id:int})?\\]' +
    '(?: \\[client %{IP:source.ip}(?::%{POSINT:source.port:int})?\\])? %{GREEDYDATA:message}',
  APACHE_ERROR_TIME: '[A-Za-z]{3} [A-Za-z]{3} \\d{2} \\d{2}:\\d{2}:\\d{2}(?:\\.\\d{1,9})? \\d{4}',
  /**
   * <PRI>Dec  1 18:14:55 host prog[pid]: message. PRI is optional (rsyslog's default file format has none);
   * so is the colon (rsyslog writes the tag of a message received as RFC 5424 as prog[pid], without one).
   */
  SYSLOG_RFC3164:
    '(?:<%{POSINT:log.syslog.priority:int}>)?%{SYSLOGTIMESTAMP:_pattern.time} %{SYSLOGHOST:log.syslog.hostname} %{SYSLOGPROG:log.syslog.appname}(?:\\[%{POSINT:log.syslog.procid}\\])?:? ?%{GREEDYDATA:message}',
  /** <PRI>1 2026-12-01T18:14:55.123Z host app procid msgid [sd] message */
  SYSLOG_RFC5424:
    '<%{POSINT:log.syslog.priority:int}>%{POSINT:log.syslog.version} (?:-|%{TIMESTAMP_ISO8601:_pattern.time}) (?:-|%{NOTSPACE:log.syslog.hostname}) (?:-|%{NOTSPACE:log.syslog.appname}) ' +
    '(?:-|%{NOTSPACE:log.syslog.procid}) (?:-|%{NOTSPACE:log.syslog.msgid}) (?:-|%{SYSLOG_SD:log.syslog.structured_data})(?: %{GREEDYDATA:message})?',
};
