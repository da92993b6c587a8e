// Compile-time check of the console's types against the hub's OpenAPI document
// (schema.d.ts, written by `npm run gen:api`): every answer type the console reads must be a
// narrowing of the hub's schema, and every body it sends must fit the schema's request type.
// A renamed or removed field fails `npm run typecheck`.
import type { components } from './schema';
import type {
  BookingRequest,
  CredentialFlags,
  Device,
  EnrollmentCode,
  GoogleCalendar,
  GoogleConnection,
  Job,
  MeAnswer,
  NotificationRow,
  Resource,
  TenantSettings,
} from './types';

type S = components['schemas'];
type Fits<A, B> = [A] extends [B] ? true : false;
type Assert<T extends true> = T;

export type ContractChecks = [
  Assert<Fits<Resource, S['Resource']>>,
  Assert<Fits<Device, S['DeviceView']>>,
  Assert<Fits<EnrollmentCode, S['EnrollmentCode']>>,
  Assert<Fits<GoogleCalendar, S['PickableCalendar']>>,
  Assert<Fits<GoogleConnection, S['ConnectionView']>>,
  Assert<Fits<CredentialFlags, S['CredentialsView']>>,
  Assert<Fits<Job, S['JobRecord']>>,
  Assert<Fits<NotificationRow, S['Entry']>>,
  Assert<Fits<TenantSettings, S['TenantSettings']>>,
  Assert<Fits<BookingRequest, S['NewMeeting']>>,
  Assert<Fits<MeAnswer, S['Me']>>,
];
