/**
 * Built-in entity types and fields of a real site beyond those the daemon itself
 * needs (default-schema.ts), so that clients written by others (python-api's own
 * test suite, Toolkit) find what they write. Names and data types are a snapshot:
 * they follow the schema python-api v3.10.0 ships for its mockgun
 * (tests/mockgun/schema.pickle), written here as our own table. Legacy types
 * (TankPublishedFile, TankType, ...) and `*Connection` types are left out, and
 * link fields only list types this site has. `Cut` and `CutItem` are not in that
 * snapshot; their fields follow python-api docs/reference.rst (filter presets)
 * and a real site's editorial types.
 */
import type { EntitySpec, FieldSpec } from './schema-types.ts';

const STATUS = { type: 'status_list', values: ['wtg', 'rdy', 'ip', 'rev', 'apr', 'fin', 'hld', 'omt', 'cbb', 'na'], default: 'wtg' } as const;
const ACTORS = ['HumanUser', 'ApiUser'];

function entity(...types: string[]): FieldSpec {
  return { type: 'entity', types };
}
function multi(...types: string[]): FieldSpec {
  return { type: 'multi_entity', types };
}

/** Fields added to types of default-schema.ts. */
export const SNAPSHOT_FIELDS: Readonly<Record<string, Readonly<Record<string, FieldSpec>>>> = {
  HumanUser: {
    password_proxy: { type: 'password', name: 'Password' },
    locked_until: 'date_time', email_notes: 'checkbox', email_tasks: 'checkbox', email_versions: 'checkbox',
    file_access: 'checkbox', password_change_next_login: 'checkbox', tag_list: 'tag_list',
    home_page: 'list', pipeline_configurations: multi('PipelineConfiguration'),
  },
  Version: {
    sg_frames_aspect_ratio: 'float', sg_movie_aspect_ratio: 'float', sg_movie_has_slate: 'checkbox',
    sg_uploaded_movie_frame_rate: 'float', sg_department: 'text', flagged: 'checkbox',
    sg_version_type: 'list', tasks: multi('Task'),
  },
  Shot: {
    head_in: 'number', head_out: 'number', head_duration: 'number', tail_in: 'number', tail_out: 'number', tail_duration: 'number',
    cut_in: 'number', cut_out: 'number', cut_duration: 'number', sg_cut_order: 'number', sg_head_in: 'number', sg_tail_out: 'number',
    sg_working_duration: 'number', sg_shot_type: 'list', parent_shots: multi('Shot'),
  },
  LocalStorage: { uuid: 'uuid' },
  Note: { playlist: entity('Playlist'), reply_content: 'text', tag_list: 'tag_list' },
  Project: { sg_projectnumber: 'text', color: 'text', duration: 'number', current_user_favorite: 'checkbox' },
  Task: { sg_task_order: 'number', pinned: 'checkbox', upstream_tasks: multi('Task'), downstream_tasks: multi('Task'), inventory_date: 'date' },
  Playlist: { sg_status: { type: 'status_list', values: STATUS.values } },
};

function custom(project: boolean): EntitySpec {
  return {
    displayField: 'code', project,
    fields: { code: 'text', description: 'text', image: 'image', sg_status_list: STATUS, tag_list: 'tag_list' },
  };
}

/** Types a real site has that default-schema.ts does not. */
export const SNAPSHOT_TYPES: Readonly<Record<string, EntitySpec>> = {
  Reply: {
    // A Reply has no project: its Note has (protocol.md 3.3).
    displayField: 'content',
    fields: { content: 'text', entity: entity('Note'), user: entity(...ACTORS) },
  },
  TimeLog: {
    displayField: 'description', project: true,
    fields: { date: 'date', description: 'text', duration: 'duration', entity: entity('Task'), user: entity('HumanUser') },
  },
  Booking: {
    displayField: 'note', project: true,
    fields: { start_date: 'date', end_date: 'date', note: 'text', user: entity('HumanUser'), vacation: 'checkbox' },
  },
  Department: {
    displayField: 'name',
    fields: {
      name: 'text', code: 'text', color: 'text', department_type: 'list', image: 'image',
      list_order: 'number', sg_status_list: STATUS, tag_list: 'tag_list',
    },
  },
  Cut: {
    displayField: 'code', project: true,
    fields: {
      code: 'text', description: 'text', entity: entity('Shot', 'Sequence', 'Project'), revision_number: 'number',
      sg_status_list: STATUS, fps: 'float', timecode_start_text: 'text', timecode_end_text: 'text',
      duration: 'number', version: entity('Version'), image: 'image', tag_list: 'tag_list',
    },
  },
  CutItem: {
    displayField: 'code', project: true,
    fields: {
      code: 'text', description: 'text', cut: entity('Cut'), shot: entity('Shot'), version: entity('Version'),
      cut_order: 'number', cut_item_in: 'number', cut_item_out: 'number', cut_item_duration: 'number',
      edit_in: 'number', edit_out: 'number', timecode_cut_item_in_text: 'text', timecode_cut_item_out_text: 'text',
    },
  },
  CustomEntity01: custom(true),
  CustomEntity02: custom(true),
  CustomEntity03: custom(true),
  CustomEntity04: custom(true),
  CustomEntity05: custom(true),
  CustomNonProjectEntity01: custom(false),
  CustomNonProjectEntity02: custom(false),
  CustomNonProjectEntity03: custom(false),
};
