import type { NewRolloutBody, ReleaseList, RolloutDetail, RolloutList } from '@falconet/protocol/api';
import { request } from '../http.ts';

/** The self-update REST API as the Updates page uses it (docs/update.md). */
export const fetchReleases = () => request<ReleaseList>('GET', '/api/releases');
export const fetchRollouts = () => request<RolloutList>('GET', '/api/rollouts');
export const fetchRollout = (id: string) => request<RolloutDetail>('GET', `/api/rollouts/${encodeURIComponent(id)}`);
export const createRollout = (body: NewRolloutBody) => request<RolloutDetail>('POST', '/api/rollouts', body);
export const rolloutAction = (id: string, action: 'pause' | 'resume' | 'cancel') =>
  request<RolloutDetail>('POST', `/api/rollouts/${encodeURIComponent(id)}/${action}`);
