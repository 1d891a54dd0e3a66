/** Alert sink type -> notifier (the alert sinks' index.ts files). */
import { LogshipError } from '../../lib/errors.js';
import { AlertmanagerNotifier } from '../sinks/alertmanager/index.js';
import type { AlertmanagerSinkConfig } from '../sinks/alertmanager/config.js';
import { PagerDutyNotifier } from '../sinks/pagerduty/index.js';
import type { PagerDutySinkConfig } from '../sinks/pagerduty/config.js';
import { WebhookNotifier } from '../sinks/webhook/index.js';
import type { WebhookSinkConfig } from '../sinks/webhook/config.js';
import type { AlertSinkConfig, NotifierFactory } from './engine.js';
import type { Notifier, NotifierContext } from './notifier.js';

export function builtinNotifiers(externalURL: () => string): NotifierFactory {
  return (cfg: AlertSinkConfig, ctx: NotifierContext): Notifier => {
    switch (cfg.type) {
      case 'alertmanager':
        return new AlertmanagerNotifier(cfg as AlertmanagerSinkConfig, ctx);
      case 'pagerduty':
        return new PagerDutyNotifier(cfg as PagerDutySinkConfig, ctx);
      case 'webhook':
        return new WebhookNotifier(cfg as WebhookSinkConfig, ctx, externalURL);
      default:
        throw new LogshipError('LSH_ERR_CONFIG', `sink "${cfg.name}": type ${cfg.type} does not take alerts`);
    }
  };
}
