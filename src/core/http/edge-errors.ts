import { type ArgumentsHost, Catch, Inject, Injectable } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import type { Request, Response } from 'express';

/** Answers an error raised before any route matched, in the shape of the dialect whose paths it is on. */
export type EdgeErrorRenderer = { claims(path: string): boolean; render(error: unknown, request: Request, response: Response): void };

/**
 * Routed errors are answered by each dialect's scoped filter. What fails before routing (a URL that does
 * not decode, a path with no route, a method a path does not have) only reaches Nest's global handler:
 * dialects claim the paths they own here, so such an error is still answered in their protocol's shape.
 */
@Injectable()
export class EdgeErrors {
  private readonly renderers: EdgeErrorRenderer[] = [];

  claim(renderer: EdgeErrorRenderer): void {
    this.renderers.push(renderer);
  }

  rendererFor(path: string): EdgeErrorRenderer | undefined {
    return this.renderers.find((r) => r.claims(path));
  }
}

@Catch()
export class EdgeErrorFilter extends BaseExceptionFilter {
  constructor(@Inject(EdgeErrors) private readonly edges: EdgeErrors) {
    super();
  }

  override catch(error: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') return super.catch(error, host);
    const http = host.switchToHttp();
    const request = http.getRequest<Request>();
    const renderer = this.edges.rendererFor(request.path);
    if (!renderer) return super.catch(error, host);
    renderer.render(error, request, http.getResponse<Response>());
  }
}
