import { Type } from 'typebox'
import { MAX_FOOTER_CHARS } from '../../modules/emails/broadcast-footer.js'
import { Nullable, Timestamp } from './common.js'

export const AccountSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  broadcast_footer: Nullable(
    Type.String({
      description:
        "Appended to the text and HTML (escaped) of every broadcast message sent through the API: the sender's name, postal address, contact and how to refuse further mail, as Japan's Act on Specified Electronic Mail (Art. 4) and CAN-SPAM ask. Messages submitted over SMTP are sent as submitted.",
    }),
  ),
  created_at: Timestamp,
})

export const UpdateAccountBodySchema = Type.Object(
  {
    broadcast_footer: Nullable(
      Type.String({ maxLength: MAX_FOOTER_CHARS * 2, description: `At most ${MAX_FOOTER_CHARS} characters; null removes it` }),
    ),
  },
  { additionalProperties: false },
)
