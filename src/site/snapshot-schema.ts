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
import { DATA_TYPES, type DataType, type EntitySpec, type FieldSpec } from './schema-types.ts';

const STATUS = { type: 'status_list', values: ['wtg', 'rdy', 'ip', 'rev', 'apr', 'fin', 'hld', 'omt', 'cbb', 'na'], default: 'wtg' } as const;
const ACTORS = ['HumanUser', 'ApiUser'];

function entity(...types: string[]): FieldSpec {
  return { type: 'entity', types };
}
function multi(...types: string[]): FieldSpec {
  return { type: 'multi_entity', types };
}

/** Fields added to types of default-schema.ts, where a plain data type is not enough. */
const FIELDS: Readonly<Record<string, Readonly<Record<string, FieldSpec>>>> = {
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

/** Types a real site has that default-schema.ts does not, where a plain data type is not enough. */
const TYPES: Readonly<Record<string, EntitySpec>> = {
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

/** More fields of the types above and of default-schema.ts: `Type name:type ...`, a link as `name:entity>TypeA,TypeB`. */
const MORE_FIELDS = `
ApiUser filmstrip_image:image generate_event_log_entries:checkbox image:image
  permission_rule_set:entity>PermissionRuleSet tag_list:tag_list
Asset filmstrip_image:image open_notes_count:text sg_asset_library:entity>AssetLibrary sg_library:entity>AssetLibrary
  task_template:entity>TaskTemplate
Booking open_notes_count:text
CustomEntity01 filmstrip_image:image open_notes_count:text sg_configuration_metadata:text
  sg_entity:entity>Asset,Booking,Department,CustomEntity01,Attachment,Group,Note,HumanUser,Phase,Playlist,PipelineConfiguration,Project,PublishedFileDependency,PublishedFile,PublishedFileType,ApiUser,Sequence,Shot,Step,Task,TimeLog,Version,TaskTemplate
  sg_entity_name:text sg_entity_type_1:text sg_id_at_creation:number sg_metadata:text sg_name_at_creation:text
  sg_path:url sg_pipeline_configuration:entity>PipelineConfiguration sg_primary:checkbox sg_relative_path:text
  sg_root:text sg_secondary_entities:text sg_type_at_creation:text
CustomEntity02 filmstrip_image:image open_notes_count:text
CustomEntity03 filmstrip_image:image open_notes_count:text
CustomEntity04 filmstrip_image:image open_notes_count:text
CustomEntity05 filmstrip_image:image open_notes_count:text
CustomNonProjectEntity01 filmstrip_image:image open_notes_count:text
CustomNonProjectEntity02 filmstrip_image:image open_notes_count:text
CustomNonProjectEntity03 filmstrip_image:image open_notes_count:text
Department open_notes_count:text
Group open_notes_count:text tag_list:tag_list
HumanUser email_all_deliveries:checkbox email_all_notes:checkbox email_all_tasks:checkbox email_all_tickets:checkbox
  email_all_versions:checkbox email_deliveries:checkbox email_inbox_general:checkbox email_inbox_notes:checkbox
  email_tickets:checkbox email_version_link_cc:checkbox enable_tank_integration:checkbox filmstrip_image:image
  password_strength:float permission_rule_set:entity>PermissionRuleSet
Playlist current_user_favorite:checkbox filmstrip_image:image media_center_viewed_by_current_user:list
  media_center_viewed_by_current_user_at:date_time open_notes_count:text
Project billboard:url filmstrip_image:image last_accessed_by_current_user:date_time layout_project:entity>Project
  task_template:entity>TaskTemplate
PublishedFile open_notes_count:text
PublishedFileType image:image sg_status_list:status_list tag_list:tag_list
Sequence filmstrip_image:image open_notes_count:text sg_assigned_to:entity>HumanUser sg_due_1:date
  sg_scene:entity>Scene sg_sequence_type:list sg_sequencenumber:text task_template:entity>TaskTemplate
Shot filmstrip_image:image open_notes_count:text sg_scene:entity>Scene sg_shotnumber:text smart_cut_duration:number
  smart_cut_in:number smart_cut_out:number smart_cut_summary_display:text smart_duration_summary_display:text
  smart_head_duration:number smart_head_in:number smart_head_out:number smart_tail_duration:number
  smart_tail_in:number smart_tail_out:number smart_working_duration:number task_template:entity>TaskTemplate
Task dependency_violation:checkbox filmstrip_image:image open_notes_count:text split_durations:serializable
  splits:serializable task_template:entity>TaskTemplate template_task:entity>Task time_logs_sum:duration
  time_vs_est:duration
Version filmstrip_image:image media_center_import_time:date_time open_notes_count:text sg_uploaded_movie_mp4:url
  sg_uploaded_movie_transcoding_status:number sg_uploaded_movie_webm:url task_template:entity>TaskTemplate
  viewed_by_current_user:list viewed_by_current_user_at:date_time
`;

/** More types: `Type project|- displayField name:type ...`. */
const MORE_TYPES = `
ActionMenuItem - title entity_type:text folder:text list_order:number poll_for_data_updates:checkbox
  selection_required:checkbox title:text url:text
AssetLibrary project code code:text description:text filmstrip_image:image image:image open_notes_count:text
  sg_status_list:status_list tag_list:tag_list
Element project code code:text cut_duration:number cut_in:number cut_out:number description:text filmstrip_image:image
  head_duration:number head_in:number head_out:number image:image open_notes_count:text sg_element_type:list
  sg_status_list:status_list smart_cut_duration:number smart_cut_in:number smart_cut_out:number
  smart_cut_summary_display:text smart_duration_summary_display:text smart_head_duration:number smart_head_in:number
  smart_head_out:number smart_tail_duration:number smart_tail_in:number smart_tail_out:number
  smart_working_duration:number tag_list:tag_list tail_duration:number tail_in:number tail_out:number
  task_template:entity>TaskTemplate
Icon - name display_type:list html:text icon_type:list image_data:text image_map_key:text name:text url:text uuid:uuid
PermissionRuleSet - code code:text display_name:text entity_type:text parent_set:entity>PermissionRuleSet
Phase project code code:text color:text description:text end_date:date milestone:checkbox open_notes_count:text
  start_date:date
PublishedFileDependency - id dependent_published_file:entity>PublishedFile published_file:entity>PublishedFile
Scene project code code:text description:text filmstrip_image:image image:image open_notes_count:text
  sg_scene_type:list sg_status_list:status_list tag_list:tag_list task_template:entity>TaskTemplate
Status - name bg_color:text code:text icon:entity>Icon name:text system:checkbox
TaskDependency - id dependent_task:entity>Task dependent_task_id:number offset_days:number task:entity>Task
  task_id:number
TaskTemplate - code code:text description:text entity_type:text open_notes_count:text task_count:number
`;

/** `name:type` or `name:entity>A,B` as a FieldSpec. */
function parseField(item: string): [string, FieldSpec] {
  const [name, spec] = item.split(':') as [string, string];
  const [type, targets] = spec.split('>') as [string, string | undefined];
  if (!(DATA_TYPES as readonly string[]).includes(type)) throw new Error(`snapshot schema: unknown data type in ${item}`);
  return [name, targets === undefined ? type as DataType : { type: type as DataType, types: targets.split(',') }];
}

function parseTable(text: string): Array<{ head: string[]; fields: Array<[string, FieldSpec]> }> {
  const rows: Array<{ head: string[]; fields: Array<[string, FieldSpec]> }> = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const words = line.trim().split(/\s+/);
    if (!line.startsWith(' ')) rows.push({ head: words.filter((w) => !w.includes(':')), fields: [] });
    rows.at(-1)?.fields.push(...words.filter((w) => w.includes(':')).map(parseField));
  }
  return rows;
}

/** Fields added to existing types (the hand-written ones win). */
export const SNAPSHOT_FIELDS: Readonly<Record<string, Readonly<Record<string, FieldSpec>>>> = (() => {
  const out: Record<string, Record<string, FieldSpec>> = {};
  for (const { head: [type], fields } of parseTable(MORE_FIELDS)) out[type!] = { ...Object.fromEntries(fields), ...FIELDS[type!] };
  for (const [type, fields] of Object.entries(FIELDS)) out[type] ??= { ...fields };
  return out;
})();

/** Types added to default-schema.ts. */
export const SNAPSHOT_TYPES: Readonly<Record<string, EntitySpec>> = (() => {
  const out: Record<string, EntitySpec> = { ...TYPES };
  for (const { head: [type, project, displayField], fields } of parseTable(MORE_TYPES)) {
    out[type!] = { displayField: displayField!, project: project === 'project', fields: Object.fromEntries(fields) };
  }
  return out;
})();
