import { Inject } from '@nestjs/common';
import { Command, CommandHandler, Query, QueryHandler, type ICommandHandler, type IQueryHandler } from '@nestjs/cqrs';
import { ProjectionRuntime } from '../projection-runtime.js';
import type { ProjectorStatus } from '../projector.js';

/** Lag, position and failure of every projector of this process. */
export class ProjectionStatusQuery extends Query<ProjectorStatus[]> {}

/** Empties a projector's tables and replays the log into them. */
export class RebuildProjectionCommand extends Command<void> {
  constructor(readonly name: string) {
    super();
  }
}

@QueryHandler(ProjectionStatusQuery)
export class ProjectionStatusHandler implements IQueryHandler<ProjectionStatusQuery> {
  constructor(@Inject(ProjectionRuntime) private readonly runtime: ProjectionRuntime) {}

  execute(): Promise<ProjectorStatus[]> {
    return this.runtime.status();
  }
}

@CommandHandler(RebuildProjectionCommand)
export class RebuildProjectionHandler implements ICommandHandler<RebuildProjectionCommand> {
  constructor(@Inject(ProjectionRuntime) private readonly runtime: ProjectionRuntime) {}

  execute({ name }: RebuildProjectionCommand): Promise<void> {
    return this.runtime.rebuild(name);
  }
}
