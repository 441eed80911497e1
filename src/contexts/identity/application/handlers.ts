import { Inject } from '@nestjs/common';
import { CommandHandler, QueryHandler, type ICommandHandler, type IQueryHandler } from '@nestjs/cqrs';
import { AuthenticateQuery, FindUserQuery, VerifyPasswordStampQuery, type Identity } from './authenticate.query.js';
import {
  CountUsersQuery,
  CreateApiKeyCommand,
  CreateUserCommand,
  DeleteUserCommand,
  GetUserQuery,
  ListApiKeysQuery,
  ListUsersQuery,
  LoginCommand,
  LogoutCommand,
  RefreshCommand,
  RevokeApiKeyCommand,
  UpdateUserCommand,
  type ApiKeyView,
  type LoginResult,
  type TokenPair,
  type UserView,
} from './commands.js';
import { IdentityService } from './identity-service.js';

@CommandHandler(CreateUserCommand)
export class CreateUserHandler implements ICommandHandler<CreateUserCommand> {
  constructor(@Inject(IdentityService) private readonly identity: IdentityService) {}
  execute({ actor, input }: CreateUserCommand): Promise<UserView> {
    return this.identity.createUser(actor, input);
  }
}

@CommandHandler(UpdateUserCommand)
export class UpdateUserHandler implements ICommandHandler<UpdateUserCommand> {
  constructor(@Inject(IdentityService) private readonly identity: IdentityService) {}
  execute({ actor, userId, input, restore, expected }: UpdateUserCommand): Promise<UserView> {
    return this.identity.updateUser(actor, userId, input, restore, expected);
  }
}

@CommandHandler(DeleteUserCommand)
export class DeleteUserHandler implements ICommandHandler<DeleteUserCommand> {
  constructor(@Inject(IdentityService) private readonly identity: IdentityService) {}
  execute({ actor, userId, expected }: DeleteUserCommand): Promise<UserView> {
    return this.identity.deleteUser(actor, userId, expected);
  }
}

@QueryHandler(ListUsersQuery)
export class ListUsersHandler implements IQueryHandler<ListUsersQuery> {
  constructor(@Inject(IdentityService) private readonly identity: IdentityService) {}
  execute({ actor, options }: ListUsersQuery): Promise<UserView[]> {
    return this.identity.listUsers(actor, options);
  }
}

@QueryHandler(CountUsersQuery)
export class CountUsersHandler implements IQueryHandler<CountUsersQuery> {
  constructor(@Inject(IdentityService) private readonly identity: IdentityService) {}
  execute({ actor, options }: CountUsersQuery): Promise<number> {
    return this.identity.countUsers(actor, options);
  }
}

@QueryHandler(GetUserQuery)
export class GetUserHandler implements IQueryHandler<GetUserQuery> {
  constructor(@Inject(IdentityService) private readonly identity: IdentityService) {}
  execute({ actor, userId, includeDeleted }: GetUserQuery): Promise<UserView> {
    return this.identity.getUser(actor, userId, includeDeleted);
  }
}

@CommandHandler(LoginCommand)
export class LoginHandler implements ICommandHandler<LoginCommand> {
  constructor(@Inject(IdentityService) private readonly identity: IdentityService) {}
  execute({ email, password }: LoginCommand): Promise<LoginResult> {
    return this.identity.login(email, password);
  }
}

@CommandHandler(RefreshCommand)
export class RefreshHandler implements ICommandHandler<RefreshCommand> {
  constructor(@Inject(IdentityService) private readonly identity: IdentityService) {}
  execute({ refreshToken }: RefreshCommand): Promise<TokenPair> {
    return this.identity.refresh(refreshToken);
  }
}

@CommandHandler(LogoutCommand)
export class LogoutHandler implements ICommandHandler<LogoutCommand> {
  constructor(@Inject(IdentityService) private readonly identity: IdentityService) {}
  execute({ userId }: LogoutCommand): Promise<void> {
    return this.identity.logout(userId);
  }
}

@CommandHandler(CreateApiKeyCommand)
export class CreateApiKeyHandler implements ICommandHandler<CreateApiKeyCommand> {
  constructor(@Inject(IdentityService) private readonly identity: IdentityService) {}
  execute({ userId, name }: CreateApiKeyCommand): Promise<{ key: ApiKeyView; apikey: string }> {
    return this.identity.createApiKey(userId, name);
  }
}

@QueryHandler(ListApiKeysQuery)
export class ListApiKeysHandler implements IQueryHandler<ListApiKeysQuery> {
  constructor(@Inject(IdentityService) private readonly identity: IdentityService) {}
  execute({ userId }: ListApiKeysQuery): Promise<ApiKeyView[]> {
    return this.identity.listApiKeys(userId);
  }
}

@CommandHandler(RevokeApiKeyCommand)
export class RevokeApiKeyHandler implements ICommandHandler<RevokeApiKeyCommand> {
  constructor(@Inject(IdentityService) private readonly identity: IdentityService) {}
  execute({ userId, keyId }: RevokeApiKeyCommand): Promise<void> {
    return this.identity.revokeApiKey(userId, keyId);
  }
}

@QueryHandler(AuthenticateQuery)
export class AuthenticateHandler implements IQueryHandler<AuthenticateQuery> {
  constructor(@Inject(IdentityService) private readonly identity: IdentityService) {}
  execute({ credentials }: AuthenticateQuery): Promise<Identity | null> {
    return this.identity.authenticate(credentials);
  }
}

@QueryHandler(VerifyPasswordStampQuery)
export class VerifyPasswordStampHandler implements IQueryHandler<VerifyPasswordStampQuery> {
  constructor(@Inject(IdentityService) private readonly identity: IdentityService) {}
  execute({ userId, stamp }: VerifyPasswordStampQuery): Promise<Identity | null> {
    return this.identity.verifyPasswordStamp(userId, stamp);
  }
}

@QueryHandler(FindUserQuery)
export class FindUserHandler implements IQueryHandler<FindUserQuery> {
  constructor(@Inject(IdentityService) private readonly identity: IdentityService) {}
  execute({ userId }: FindUserQuery): Promise<Identity | null> {
    return this.identity.findUser(userId);
  }
}

export const IDENTITY_HANDLERS = [
  CreateUserHandler,
  UpdateUserHandler,
  DeleteUserHandler,
  ListUsersHandler,
  CountUsersHandler,
  GetUserHandler,
  LoginHandler,
  RefreshHandler,
  LogoutHandler,
  CreateApiKeyHandler,
  ListApiKeysHandler,
  RevokeApiKeyHandler,
  AuthenticateHandler,
  VerifyPasswordStampHandler,
  FindUserHandler,
];
