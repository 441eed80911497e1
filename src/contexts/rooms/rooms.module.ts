import { Inject, Injectable, Module, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { CqrsModule } from '@nestjs/cqrs';
import { DEFAULT_ACTOR_OPTIONS } from '../../core/actors/actor-system.js';
import { EventStore } from '../../core/event-store/event-store.js';
import { SnapshotStore, type SnapshotPolicy } from '../../core/event-store/snapshot-store.js';
import { EventFeed } from '../../core/projections/event-feed.js';
import { StreamSubscriptions } from '../../core/projections/stream-subscriptions.js';
import { ChannelHub } from '../../core/realtime/channel-hub.js';
import { Database } from '../../core/database/database.js';
import { DatabaseModule } from '../../core/database/database.module.js';
import { ProjectionRuntime } from '../../core/projections/projection-runtime.js';
import { CreateRoomHandler, GetRoomStreamsHandler, GetStreamHandler, ListRoomsHandler, PushToRoomHandler, RoomExistsHandler } from './application/handlers.js';
import { CreateRoomDirectory1764600000100 } from './read-model/migrations/1764600000100-create-room-directory.js';
import { RoomDirectory, roomDirectoryProjector } from './read-model/room-directory.js';
import { ROOM_CHANGES, RoomActors } from './application/room-actors.js';
import { roomDecider } from './domain/room.js';
import { RoomViews, type RoomChange } from './read-model/room-views.js';

/** Wires the read model to the event feed, and stops timers on shutdown. */
@Injectable()
class RoomsLifecycle implements OnModuleInit, OnModuleDestroy {
  private unsubscribe?: () => void;

  constructor(
    @Inject(EventFeed) private readonly feed: EventFeed,
    @Inject(RoomViews) private readonly views: RoomViews,
    @Inject(RoomActors) private readonly actors: RoomActors,
    @Inject(ProjectionRuntime) private readonly projections: ProjectionRuntime,
  ) {}

  onModuleInit(): void {
    this.projections.register(roomDirectoryProjector);
    this.unsubscribe = this.feed.subscribe(this.views.relayUnviewed);
  }

  onModuleDestroy(): void {
    this.unsubscribe?.();
    this.views.stop();
    this.actors.stop();
  }
}

function snapshotPolicy(store: SnapshotStore, config: ConfigService): SnapshotPolicy | undefined {
  const every = config.get<number>('SNAPSHOT_EVERY')!;
  return every > 0 ? { store, every } : undefined;
}

/** The rooms bounded context: rooms of keyed streams (relay/replace/append/compact). */
@Module({
  imports: [CqrsModule, DatabaseModule.forFeature({ migrations: [CreateRoomDirectory1764600000100] })],
  providers: [
    { provide: ROOM_CHANGES, useFactory: () => new ChannelHub<RoomChange>() },
    {
      provide: RoomActors,
      inject: [EventStore, EventFeed, SnapshotStore, ConfigService],
      useFactory: (store: EventStore, feed: EventFeed, snapshots: SnapshotStore, config: ConfigService) =>
        new RoomActors(roomDecider, store, feed, {
          ...DEFAULT_ACTOR_OPTIONS,
          idleMs: config.get('ACTOR_IDLE_MS')!,
          maxActors: config.get('MAX_ACTORS')!,
          snapshots: snapshotPolicy(snapshots, config),
        }),
    },
    {
      provide: RoomViews,
      inject: [StreamSubscriptions, ROOM_CHANGES, SnapshotStore, ConfigService, Database],
      useFactory: (subscriptions: StreamSubscriptions, changes: ChannelHub<RoomChange>, snapshots: SnapshotStore, config: ConfigService, db: Database) =>
        new RoomViews(subscriptions, changes, {
          idleMs: config.get('VIEW_IDLE_MS') ?? config.get('ACTOR_IDLE_MS')!,
          maxViews: config.get('MAX_VIEWS') ?? config.get('MAX_ACTORS')!,
          snapshots: snapshotPolicy(snapshots, config),
          sharedLog: db.shared,
        }),
    },
    { provide: RoomDirectory, inject: [Database], useFactory: (db: Database) => new RoomDirectory(db) },
    RoomsLifecycle,
    CreateRoomHandler,
    PushToRoomHandler,
    RoomExistsHandler,
    GetStreamHandler,
    GetRoomStreamsHandler,
    ListRoomsHandler,
  ],
  exports: [ROOM_CHANGES],
})
export class RoomsModule {}
