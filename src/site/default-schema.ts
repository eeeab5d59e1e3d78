/**
 * The built-in schema: the entity types and fields a studio site has out of the box
 * that the daemon, Toolkit and the demo read and write. Field names and data types
 * follow a real site's schema (python-api tests/mockgun/schema.pickle).
 *
 * A field is written as its data type, or as an object for links and lists.
 * `reverse` names the field on the other side whose value this one mirrors
 * (Sequence.shots mirrors Shot.sg_sequence): such a field is stored once, on the
 * side that owns it, and changing either side logs the back-reference event.
 */
import type { FieldSpec, EntitySpec } from './schema-types.ts';

const STATUS = { type: 'status_list', values: ['wtg', 'rdy', 'ip', 'rev', 'apr', 'fin', 'hld', 'omt', 'cbb', 'na'], default: 'wtg' } as const;
const LINKABLE = ['Shot', 'Asset', 'Sequence', 'Project'];

function entity(...types: string[]): FieldSpec {
  return { type: 'entity', types };
}
function multi(...types: string[]): FieldSpec {
  return { type: 'multi_entity', types };
}
function reverse(of: string, ...types: string[]): FieldSpec {
  return { type: 'multi_entity', types, reverse: of };
}

export const DEFAULT_SCHEMA: Readonly<Record<string, EntitySpec>> = {
  Project: {
    displayField: 'name',
    fields: {
      name: 'text', tank_name: 'text', archived: 'checkbox', is_template: 'checkbox',
      sg_description: 'text', sg_status: { type: 'list', values: ['Active', 'Bidding', 'Demo', 'Lost'] },
      sg_type: { type: 'list', values: ['Feature', 'Episodic', 'Commercial', 'Game', 'Demo'] },
      users: multi('HumanUser'), start_date: 'date', end_date: 'date', tag_list: 'tag_list', image: 'image',
    },
  },
  Sequence: {
    displayField: 'code', project: true,
    fields: {
      code: 'text', description: 'text', sg_status_list: STATUS, image: 'image', tag_list: 'tag_list',
      shots: reverse('Shot.sg_sequence', 'Shot'), tasks: reverse('Task.entity', 'Task'), assets: multi('Asset'),
    },
  },
  Shot: {
    displayField: 'code', project: true,
    fields: {
      code: 'text', description: 'text', sg_status_list: STATUS, image: 'image', tag_list: 'tag_list',
      sg_sequence: entity('Sequence'), assets: multi('Asset'), tasks: reverse('Task.entity', 'Task'),
      sg_cut_in: 'number', sg_cut_out: 'number', sg_cut_duration: 'number', sg_frame_rate: 'float',
      sg_versions: reverse('Version.entity', 'Version'), sg_viewer_link: 'url', sg_metadata: 'serializable',
    },
  },
  Asset: {
    displayField: 'code', project: true,
    fields: {
      code: 'text', description: 'text', sg_status_list: STATUS, image: 'image', tag_list: 'tag_list',
      sg_asset_type: { type: 'list', values: ['Character', 'Prop', 'Environment', 'Vehicle', 'Matte Painting', 'FX'] },
      shots: reverse('Shot.assets', 'Shot'), tasks: reverse('Task.entity', 'Task'), sequences: reverse('Sequence.assets', 'Sequence'),
      parents: multi('Asset'),
    },
  },
  Step: {
    displayField: 'code',
    fields: { code: 'text', short_name: 'text', description: 'text', entity_type: 'text', color: 'text', list_order: 'number' },
  },
  Task: {
    displayField: 'content', project: true,
    fields: {
      content: 'text', entity: entity(...LINKABLE), step: entity('Step'), sg_status_list: STATUS,
      task_assignees: multi('HumanUser', 'Group'), start_date: 'date', due_date: 'date', duration: 'duration',
      est_in_mins: 'duration', sg_description: 'text', color: 'text', milestone: 'checkbox', image: 'image',
      sg_versions: reverse('Version.sg_task', 'Version'), tag_list: 'tag_list', sg_sort_order: 'float',
      time_percent_of_est: 'number', sg_uuid: 'uuid',
    },
  },
  Version: {
    displayField: 'code', project: true,
    fields: {
      code: 'text', description: 'text', sg_status_list: STATUS, image: 'image', filmstrip_image: 'image', tag_list: 'tag_list',
      entity: entity(...LINKABLE), sg_task: entity('Task'), user: entity('HumanUser', 'ApiUser'),
      playlists: reverse('Playlist.versions', 'Playlist'), published_files: reverse('PublishedFile.version', 'PublishedFile'),
      sg_path_to_frames: 'text', sg_path_to_movie: 'text', sg_uploaded_movie: 'url', frame_count: 'number',
      sg_first_frame: 'number', sg_last_frame: 'number', frame_range: 'text', sg_frames_have_slate: 'checkbox',
    },
  },
  PublishedFile: {
    displayField: 'code', project: true,
    fields: {
      code: 'text', name: 'text', description: 'text', sg_status_list: STATUS, image: 'image', tag_list: 'tag_list',
      entity: entity(...LINKABLE), task: entity('Task'), version: entity('Version'),
      published_file_type: entity('PublishedFileType'), path: 'url', path_cache: 'text',
      path_cache_storage: entity('LocalStorage'), version_number: 'number',
      upstream_published_files: multi('PublishedFile'),
      downstream_published_files: reverse('PublishedFile.upstream_published_files', 'PublishedFile'),
    },
  },
  PublishedFileType: {
    displayField: 'code',
    fields: { code: 'text', short_name: 'text', description: 'text' },
  },
  Note: {
    displayField: 'subject', project: true,
    fields: {
      subject: 'text', content: 'text', sg_status_list: { type: 'status_list', values: ['opn', 'clsd', 'ip'], default: 'opn' },
      note_links: multi('Shot', 'Asset', 'Sequence', 'Version', 'PublishedFile', 'Project'), tasks: multi('Task'),
      addressings_to: multi('HumanUser', 'Group'), addressings_cc: multi('HumanUser', 'Group'),
      user: entity('HumanUser', 'ApiUser'), sg_note_type: { type: 'list', values: ['Client', 'Internal', 'To-do'] },
    },
  },
  Playlist: {
    displayField: 'code', project: true,
    fields: {
      code: 'text', description: 'text', versions: multi('Version'), sg_date_and_time: 'date_time',
      locked: 'checkbox', image: 'image', tag_list: 'tag_list',
    },
  },
  HumanUser: {
    displayField: 'name',
    fields: {
      name: 'text', login: 'text', email: 'text', firstname: 'text', lastname: 'text',
      sg_status_list: { type: 'status_list', values: ['act', 'dis'], default: 'act' },
      groups: reverse('Group.users', 'Group'), projects: reverse('Project.users', 'Project'),
      department: 'text', image: 'image', uuid: 'uuid',
    },
  },
  ApiUser: {
    displayField: 'firstname',
    fields: { firstname: 'text', lastname: 'text', description: 'text', email: 'text', projects: multi('Project') },
  },
  Group: {
    displayField: 'code',
    fields: { code: 'text', users: multi('HumanUser'), sg_status_list: STATUS },
  },
  EventLogEntry: {
    displayField: 'description', plain: true,
    fields: {
      event_type: 'text', attribute_name: 'text', meta: 'serializable', entity: entity(),
      user: entity('HumanUser', 'ApiUser'), project: entity('Project'), session_uuid: 'uuid',
      description: 'text', cached_display_name: 'text', image: 'image', filmstrip_image: 'image',
    },
  },
  PipelineConfiguration: {
    displayField: 'code', project: true,
    fields: {
      code: 'text', description: 'text', users: multi('HumanUser'), plugin_ids: 'text', sg_plugin_ids: 'text',
      descriptor: 'text', sg_descriptor: 'text', uploaded_config: 'url', sg_uploaded_config: 'url',
      linux_path: 'text', mac_path: 'text', windows_path: 'text', image: 'image', tag_list: 'tag_list',
    },
  },
  LocalStorage: {
    displayField: 'code',
    fields: { code: 'text', description: 'text', linux_path: 'text', mac_path: 'text', windows_path: 'text' },
  },
  Attachment: {
    displayField: 'filename', project: true,
    fields: {
      this_file: 'url', filename: 'text', file_size: 'number', file_extension: 'text', description: 'text',
      attachment_links: multi(), image: 'image', tag_list: 'tag_list', sg_type: 'text',
    },
  },
  FilesystemLocation: {
    displayField: 'code', project: true,
    fields: {
      code: 'text', entity: entity(), path: 'url', path_cache_storage: entity('LocalStorage'),
      configuration_metadata: 'text', is_primary: 'checkbox', linked_entity_type: 'text', linked_entity_id: 'number',
      pipeline_configuration: entity('PipelineConfiguration'), description: 'text',
    },
  },
};
