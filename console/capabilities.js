// Features the console can use when the API offers them, and how it tells:
// a path and method in GET /openapi.json, a query parameter of an
// operation, or a property of a request schema. The pages ask available()
// and show "not offered by this hookloop" otherwise. When the API gains
// one of these under another path or name, change it here only.
import { description } from './api.js';

export const FEATURES = {
  enableSubscription: { method: 'post', path: '/admin/subscriptions/{id}/enable', label: 'Enable' },
  disableSubscription: { method: 'post', path: '/admin/subscriptions/{id}/disable', label: 'Disable' },
  rotateSecret: { method: 'post', path: '/admin/subscriptions/{id}/secret/rotate', label: 'Rotate secret' },
  attempts: { method: 'get', path: '/admin/deliveries/{event_id}/{subscription_id}/attempts', label: 'Attempts' },
  searchBySubscription: { method: 'get', path: '/admin/deliveries', query: 'subscription_id', label: 'Search by subscription' },
  searchByStatus: { method: 'get', path: '/admin/deliveries', query: 'status', label: 'Search by status' },
  searchPages: { method: 'get', path: '/admin/deliveries', query: 'cursor', label: 'Pages of search results' },
  replay: { method: 'post', path: '/admin/events/{event_id}/replay', label: 'Replay' },
  transformations: { method: 'post', path: '/admin/transformations', label: 'Transformations' },
  partners: { method: 'get', path: '/admin/partners', label: 'Partners' },
  destinations: { schema: 'SubscriptionRequest', property: 'destination', label: 'SNS, SQS and EventBridge destinations' },
  stats: { method: 'get', path: '/admin/stats', label: 'Live figures' },
  recover: { method: 'post', path: '/admin/subscriptions/{id}/recover', label: 'Recover a time range' },
};

export function available(name) {
  const f = FEATURES[name];
  const doc = description();
  if (!f) return false;
  if (f.schema) return !!doc.components?.schemas?.[f.schema]?.properties?.[f.property];
  const op = doc.paths?.[f.path]?.[f.method];
  if (!op) return false;
  if (!f.query) return true;
  return (op.parameters || []).some((p) => p && p.in === 'query' && p.name === f.query);
}

/** The path of a feature with its {placeholders} filled (escaped). */
export function pathOf(name, values) {
  return FEATURES[name].path.replace(/\{(\w+)\}/g, (_, k) => encodeURIComponent(values[k] ?? ''));
}

export function labelOf(name) { return FEATURES[name].label; }
