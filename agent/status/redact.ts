/**
 * URL credentials (`scheme://user:password@host`) never leave the agent through
 * /status or `logship status`: the password, or a user-only userinfo (often a
 * token), becomes `***`. Works on any text, so error messages that quote a URL
 * are covered too.
 */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@]*)@/gi;

export function redactCredentials(text: string): string;
export function redactCredentials(text: string | null): string | null;
export function redactCredentials(text: string | null): string | null {
  if (text === null || !text.includes('@')) return text;
  return text.replace(USERINFO, (_m, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    return colon < 0 ? `${scheme}***@` : `${scheme}${userinfo.slice(0, colon)}:***@`;
  });
}
