"""What WhatsApp itself writes into an exported chat, in every language it ships.

An export replaces what it leaves out with a phrase in the phone's language ("image
omitted", "obrázek vynechán", "<Média vynechány>"), and adds notices and markers of its
own. `whatsapp.py` reads bodies against this table; nothing here is code.

Per language, the kinds of string:

    media     a left-out photo, video, sticker, document…: Android writes one "<Media
              omitted>", iOS one per type ("image omitted", "GIF omitted"); Android's
              "live location shared"
    deleted   "This message was deleted" / "You deleted this message"
    edited    the marker that ends an edited message ("<This message was edited>")
    system    bodies that are WhatsApp's, not the sender's: missed calls, a message not
              yet decrypted, the first line of a poll
    notice    how chat notices that name no one begin (end-to-end encryption)
    attached  how an export *with* media names a file; %s is the file name

Phrases are compared with direction marks, surrounding spaces, <> and a final full stop
removed and case folded, so each is listed once, as WhatsApp spells it.

Sources. WhatsApp's own resource strings: the iOS app's Localizable.strings (2.22-2.23;
keys "n*sq0" image omitted, "qBly]" deleted, "_i3PG" encryption notice, …) and the
Android app's strings.xml (2017; "email_media_omitted", "email_live_location_message",
"revoked_msg_incoming", "missed_voice_call", …), as collected in the public parser whats_json
(github.com/starkdmi/whats_json, tool/patterns_generator/data). Newer Android "<… omitted>"
forms ("<Médias omis>", "<Pominięto multimedia>", "<המדיה לא נכללה>", …) as listed by
chat-analytics (github.com/mlomb/chat-analytics, pipeline/parse/parsers/WhatsApp.ts) and
seen in public exports. Edited markers appear in public parsers and exports for English,
German, Spanish, French, Italian, Portuguese, Dutch, Russian, Polish, Hebrew, Indonesian,
Turkish and Arabic; the others are our translation, marked "translated". Android's
Persian and Tamil "file attached" forms name the file without brackets and are not
listed.
"""

STRINGS: dict[str, dict[str, tuple[str, ...]]] = {
    "English": {
        "media": (
            "image omitted", "video omitted", "audio omitted", "sticker omitted", "GIF omitted",
            "document omitted", "Contact card omitted", "product image omitted", "Media omitted",
            "video note omitted", "video message omitted",
            "null",  # Android's view-once photo or video, written so in every language
            "live location shared",
        ),
        "deleted": ("This message was deleted", "You deleted this message"),
        "edited": ("This message was edited",),
        "system": (
            "Missed voice call", "Missed video call", "Missed group voice call",
            "Missed group video call", "Waiting for this message. This may take a while",
            "Waiting for this message. Check your phone", "POLL:",
        ),
        "notice": (
            "Messages and calls are end-to-end encrypted",
            "Messages to this chat and calls are now secured with",
            "Messages to this group are now secured with end-to-end", "Your security code with",
            "You were added",
        ),
        "attached": ("<attached: %s>", "%s (file attached)", "%s <attached>"),
    },
    "Afrikaans": {
        "media": ("Media weggelaat", "regstreekse ligging gedeel"),
        "deleted": ("Hierdie boodskap was uitgevee", "Jy het boodskap uitgevee"),
        "edited": ("Hierdie boodskap is geredigeer",),  # translated
        "system": (
            "Stemoproep gemis", "Video-oproep gemis",
            "Wag tans vir hierdie boodskap. Dit mag 'n rukkie neem",
        ),
        "notice": (
            "Boodskappe aan hierdie gesprek en oproepe word nou beveilig",
            "Boodskappe aan hierdie groep word nou beveilig met",
        ),
        "attached": ("%s (lêer aangeheg)",),
    },
    "Albanian": {
        "media": ("Pa media", "media u hoq", "vendnodhja aktuale u shpërnda"),
        "edited": ("Ky mesazh u modifikua",),  # translated
        "system": (
            "Thirrje e shmangur", "Videothirrje e shmangur",
            "Duke pritur mesazhin. Kjo mund të zgjasë pak",
        ),
        "notice": (
            "Mesazhet dhe thirrjet që i shkëmbeni në këtë bisedë janë",
            "Mesazhet që i shkëmbeni në këtë grup janë tani të koduara",
        ),
        "attached": ("%s (skedë e ngjitur)",),
    },
    "Arabic": {
        "media": (
            "لم يتم إدراج الصورة", "لم يتم إدراج الفيديوهات", "لم يتم إدراج المقاطع الصوتية",
            "تم حذف الملصقات", "لم يتم إدراج صورة GIF", "لم يتم إدراج المستند",
            "لم يتم إدراج بطاقة جهة اتصال", "تم حذف صورة المنتج", "تم استبعاد الوسائط",
            "تمت مشاركة الموقع المباشر",
        ),
        "deleted": ("تم حذف هذه الرسالة", "لقد حذَفت هذه الرسالة", "أنت حذفت هذه الرسالة"),
        "edited": ("تم تعديل هذه الرسالة",),
        "system": (
            "مكالمة صوتية فائتة", "مكالمة فيديو فائتة", "مكالمة صوتية جماعية فائتة",
            "مكالمة فيديو جماعية فائتة", "في انتظار هذه الرسالة، قد يستغرق ذلك بعض الوقت",
        ),
        "notice": (
            "الرسائل والمكالمات مشفرة تمامًا بين الطرفين، بحيث لا يستطيع",
            "باتت الرسائل التي ترسلها إلى هذه الدردشة والمكالمات التي",
            "باتت الرسائل التي ترسلها إلى هذه المجموعة محمية من خلال",
        ),
        "attached": ("<المُرفق: %s>", "%s (الملف مرفق)"),
    },
    "Azerbaijani": {
        "media": ("Media çıxarılmışdır", "media buraxıldı", "canlı məkan paylaşılıb"),
        "deleted": ("Bu ismarıc silindi", "Siz bu ismarıcı sildiniz"),
        "edited": ("Bu ismarıc redaktə edildi",),  # translated
        "system": (
            "Buraxılmış zəng", "Buraxılmış video zəng",
            "İsmarıc üçün gözlənilir. Bu biraz vaxt apara bilər",
        ),
        "notice": (
            "Bu söhbətə göndərdiyiniz ismarıclar və zənglər artıq bir",
            "Bu qrupa göndərdiyiniz ismarıclar artıq bir başdan digərinə",
        ),
        "attached": ("%s (fayl əlavə olunub)",),
    },
    "Bengali": {
        "media": (
            "ইমেজ বাদ দেওয়া হয়েছে", "ভিডিও বাদ দেওয়া হয়েছে", "অডিও বাদ দেওয়া হয়েছে",
            "স্টিকার বাদ দেওয়া হয়েছে", "জিআইএফ বাদ দেওয়া হয়েছে", "ডকুমেন্ট বাদ দেওয়া হয়েছে",
            "পরিচিতির কার্ড বাদ দেওয়া হয়েছে", "প্রোডাক্টের ইমেজ সরানো হয়েছে",
            "মিডিয়া বাদ দেওয়া হয়েছে", "লাইভ অবস্থান শেয়ার করা হয়েছে",
        ),
        "deleted": (
            "এই মেসেজটি বাদ দেওয়া হয়েছে", "আপনি এই মেসেজটি বাদ দিয়েছেন",
            "এই বার্তাটি মুছে ফেলা হয়েছে", "আপনি এই বার্তাটি মুছে ফেলেছেন",
        ),
        "edited": ("এই মেসেজটি এডিট করা হয়েছে",),  # translated
        "system": (
            "ভয়েস কল মিস করেছেন", "ভিডিও কল মিস করেছেন", "মিস হওয়া গ্রুপ ভয়েস কল",
            "মিস হওয়া গ্রুপ ভিডিও কল",
            "এই মেসেজের জন্য অপেক্ষা করা হচ্ছে। এর জন্য কিছুক্ষণ সময় লাগতে পারে", "মিসড ভয়েস কল",
            "মিস করা ভিডিও কল",
            "বার্তাটির জন্য অপেক্ষা করা হচ্ছে। এটার জন্য কিছুক্ষন সময় লাগতে পারে",
        ),
        "notice": (
            "মেসেজ এবং কল এন্ড-টু-এন্ড এনক্রিপ্টেড থাকে",
            "এই চ্যাটের বার্তা এবং কলগুলো দুই দিক থেকে এনক্রিপশানের",
            "এই গোষ্ঠীর বার্তাগুলো দুই দিক থেকে এনক্রিপশানের মাধ্যমে",
        ),
        "attached": ("<attached: %s>", "%s (ফাইল সংযুক্ত হয়েছে)"),
    },
    "Bulgarian": {
        "media": ("Без файл", "местоположение в реално време споделено"),
        "deleted": ("Съобщението беше изтрито", "Изтрихте това съобщение"),
        "edited": ("Това съобщение беше редактирано",),  # translated
        "system": (
            "Пропуснато гласово обаждане", "Пропуснато видео обаждане",
            "Изчакване на съобщението. Това може да отнеме известно време",
        ),
        "notice": (
            "Съобщенията, които изпращате към този чат и обажданията",
            "Съобщенията, които изпращате към тази група, вече са",
        ),
        "attached": ("%s (прикачен файл)",),
    },
    "Catalan": {
        "media": (
            "Imatge omesa", "vídeo omès", "Àudio omès", "adhesiu omès", "GIF omès",
            "Document omès", "Targeta de contacte omesa", "Imatge del producte omesa",
            "Mitjans omesos", "fitxers multimèdia omesos", "Ubicació en directe compartida",
        ),
        "deleted": (
            "Aquest missatge s'ha suprimit", "Has suprimit aquest missatge",
            "Aquest missatge està esborrat", "Has esborrat aquest missatge",
        ),
        "edited": ("S'ha editat aquest missatge",),  # translated
        "system": (
            "Trucada de veu perduda", "Videotrucada perduda", "Trucada de veu en grup perduda",
            "Videotrucada de grup perduda", "Esperant aquest missatge. Això pot tardar una estona",
            "Trucada de vídeo perduda", "Esperant aquest missatge. Això pot trigar una estona",
        ),
        "notice": (
            "Els missatges i les trucades estan xifrats d'extrem a extrem",
            "Els missatges i trucades d'aquest xat estan ara assegurades",
            "Els missatges d'aquest grup estan ara assegurats amb",
        ),
        "attached": ("<adjunt: %s>", "%s (arxiu adjunt)"),
    },
    "Chinese (Hong Kong)": {
        "media": (
            "圖片已略去", "影片已略去", "音訊已略去", "貼圖已略去", "GIF 已略去", "文件已略去", "聯絡人卡片已略去", "產品圖片已略去",
            "忽略多媒體檔", "實時位置已分享",
        ),
        "deleted": ("此訊息已刪除", "您已刪除此訊息"),
        "edited": ("此訊息已編輯",),  # translated
        "system": ("未接語音通話", "未接視像通話", "未接群組語音通話", "未接群組視像通話", "正在等待此訊息，請耐心等候", "正在等待訊息，此可能需要一段時間"),
        "notice": (
            "訊息和通話經端對端加密。對話以外的任何人",
            "此對話中的訊息和通話已進行端對端的加密，點擊獲取更多資訊",
            "此群組中的訊息已進行端對端的加密，點擊獲取更多資訊",
        ),
        "attached": ("<附件：%s>", "%s (附件檔案)"),
    },
    "Chinese (simplified)": {
        "media": (
            "照片已忽略", "视频已忽略", "音频已忽略", "贴图已省略", "GIF 动态图已被忽略", "文档已省略", "联系人卡片已忽略", "产品图省略",
            "省略多媒体文件", "共享实时位置",
        ),
        "deleted": ("这条消息已被删除", "您已删除这条消息", "信息已删除", "您删除这个信息"),
        "edited": ("此消息已编辑",),  # translated
        "system": (
            "未接语音通话", "未接视频通话", "未接群组语音通话", "未接群组视频通话", "正在等待信息，可能需要一段时间", "正在等待信息，此可能需要一段时间",
        ),
        "notice": (
            "消息和通话都进行端到端加密。对话之外的任何人",
            "此对话中的信息和通话已进行端到端的加密，点击获取更多信息",
            "此群组中的信息已进行端到端的加密，点击获取更多信息",
        ),
        "attached": ("<附件：%s>", "%s (文件附件)"),
    },
    "Chinese (traditional)": {
        "media": (
            "圖像已省略", "影片已省略", "音訊已省略", "貼圖已忽略", "GIF 圖片已被省略", "文件已忽略", "聯絡人卡片已省略", "產品圖片已省略",
            "忽略多媒體檔", "實時位置已分享",
        ),
        "deleted": ("此訊息已刪除", "您已刪除此訊息"),
        "edited": ("此訊息已編輯",),  # translated
        "system": ("未接語音通話", "未接視像通話", "未接群組語音通話", "未接群組視像通話", "正在等待訊息，此可能需要一段時間"),
        "notice": (
            "訊息已受端對端加密保護。此對話以外所有人",
            "此對話中的訊息和通話已進行端對端的加密，點擊獲取更多資訊",
            "此群組中的訊息已進行端對端的加密，點擊獲取更多資訊",
        ),
        "attached": ("<附件：%s>", "%s (附件檔案)"),
    },
    "Croatian": {
        "media": (
            "slika izostavljena", "video izostavljen", "zvuk izostavljen",
            "naljepnica izostavljena", "GIF izostavljen", "dokument izostavljen",
            "Posjetnica izostavljena", "slika proizvoda izostavljena",
            "Medijski zapis izostavljen", "trenutna lokacija podijeljena",
        ),
        "deleted": (
            "Ova je poruka izbrisana", "Izbrisali ste ovu poruku", "Ova poruka je izbrisana",
        ),
        "edited": ("Ova je poruka uređena",),  # translated
        "system": (
            "Propušteni glasovni poziv", "Propušteni videopoziv",
            "Propušteni grupni glasovni poziv", "Propušteni grupni videopoziv",
            "Čekanje na ovu poruku. Ovo može potrajati", "Propušten glasovni poziv",
            "Propušten video poziv", "Čekam na ovu poruku. Ovo može potrajati",
        ),
        "notice": (
            "Poruke i pozivi zaštićeni su potpunom enkripcijom",
            "Poruke poslane na ovaj razgovor i pozivi sad su osigurani",
            "Poruke poslane na ovu grupu sad su osigurane end-to-end",
        ),
        "attached": ("<priloženo: %s>", "%s (datoteka u privitku)"),
    },
    "Czech": {
        "media": (
            "obrázek vynechán", "video vynecháno", "zvukový soubor vynechán", "nálepka vynechána",
            "GIF vynechán", "dokument vynechán", "Vizitka vynechána",
            "obrázek produktu byl vynechán", "Média vynechána", "Média vynechány",
            "byla sdílena aktuální poloha",
        ),
        "deleted": (
            "Tato zpráva byla smazána", "Tuto zprávu jste smazal/a", "Tato zpráva byla odstraněna",
            "Tuto zprávu jste odstranil/a",
        ),
        "edited": ("Tato zpráva byla upravena",),  # translated
        "system": (
            "Zmeškaný hovor", "Zmeškaný videohovor", "Zmeškaný skupinový hovor",
            "Zmeškaný skupinový videohovor", "Čeká se na tuto zprávu. Může to chvíli trvat",
            "Zmeškaný hlasový hovor", "Čekání na tuto zprávu. Tato akce může chvíli trvat",
        ),
        "notice": (
            "Zprávy a hovory jsou opatřeny koncovým šifrováním",
            "Hovory a zprávy v tomto chatu jsou teď zabezpečeny koncovým",
            "Zprávy pro tuto skupinu jsou teď zabezpečeny koncovým",
        ),
        "attached": ("<příloha: %s>", "%s (soubor byl přiložen)"),
    },
    "Danish": {
        "media": (
            "billede udeladt", "video udeladt", "lyd udeladt", "klistermærke udeladt",
            "GIF udeladt", "dokument udeladt", "Kontaktkort udeladt", "produktbillede udeladt",
            "Mediefil udeladt", "Medier udeladt", "live placering delt",
        ),
        "deleted": (
            "Denne besked er blevet slettet", "Du har slettet denne besked",
            "Denne besked blev slettet", "Du slettede denne besked",
        ),
        "edited": ("Denne besked er blevet redigeret",),  # translated
        "system": (
            "Ubesvaret taleopkald", "Ubesvaret videoopkald", "Ubesvaret gruppetaleopkald",
            "Ubesvaret gruppevideoopkald", "Venter på denne besked. Det kan godt tage lidt tid",
            "Mistet opkald", "Mistede video opkald",
            "Venter på denne besked. Det kan tage lidt tid",
        ),
        "notice": (
            "Beskeder og opkald er end-to-end-krypterede",
            "Beskeder og opkald til denne chat er nu sikret med",
            "Beskeder til denne gruppe er nu sikret med kryptering",
        ),
        "attached": ("<vedhæftet: %s>", "%s (fil vedhæftet)"),
    },
    "Dutch": {
        "media": (
            "afbeelding weggelaten", "video weggelaten", "audio weggelaten", "sticker weggelaten",
            "GIF weggelaten", "document weggelaten", "Visitekaartje weggelaten",
            "productafbeelding weggelaten", "Media weggelaten", "live locatie gedeeld",
        ),
        "deleted": (
            "Dit bericht is verwijderd", "U hebt dit bericht verwijderd",
            "Je hebt dit bericht verwijderd",
        ),
        "edited": ("Dit bericht is bewerkt",),
        "system": (
            "Gemist spraakgesprek", "Gemist videogesprek", "Gemist groepsgesprek",
            "Gemist groepsvideogesprek", "Wachten op dit bericht. Dit kan even duren",
            "Gemiste spraakoproep", "Gemiste video-oproep",
        ),
        "notice": (
            "Berichten en gesprekken worden end-to-end versleuteld",
            "Berichten en oproepen in deze chat zijn nu beveiligd met",
            "Berichten die naar deze groep worden verzonden, zijn nu",
        ),
        "attached": ("<bijgevoegd: %s>", "%s (bestand bijgevoegd)", "<bijlage: %s>"),
    },
    "Estonian": {
        "media": ("Meedia ära jäetud", "meedia välja jäetud", "hetke asukoht jagatud"),
        "deleted": ("See sõnum on kustutatud", "Kustutasid selle sõnumi"),
        "edited": ("Seda sõnumit on muudetud",),  # translated
        "system": (
            "Vastamata häälkõne", "Vastamata videokõne", "Ootab seda sõnumit. See võib aega võtta",
        ),
        "notice": (
            "Selle vestluse sõnumid ja kõned on nüüd kaitstud otsast",
            "Selle grupi sõnumid on nüüd kaitstud otsast otsani",
        ),
        "attached": ("%s (fail lisatud)",),
    },
    "Filipino": {
        "media": ("Walang kalakip na media", "Inalis ang media", "ibinahagi ang live na lokasyon"),
        "deleted": ("Itong mensahe ay binura na", "Binura mo itong mensahe"),
        "edited": ("Na-edit ang mensaheng ito",),  # translated
        "system": (
            "Nakaligtaang voice call", "Nakaligtaang video call",
            "Naghihintay sa mensahe. Maaaring ito ay magtagal",
        ),
        "notice": (
            "Ang mga mensahe at tawag sa chat na ito ay secured gamit",
            "Ang mensahe sa grupong ito ay secured na, gamit ang",
        ),
        "attached": ("%s (nakalakip na file)",),
    },
    "Finnish": {
        "media": (
            "ei kuvaa", "videota ei sisällytetä", "äänitiedostoa ei sisällytetä",
            "tarraa ei sisällytetty", "GIF-animaatio jätetty pois", "dokumenttia ei sisällytetä",
            "Yhteystietokortti jätettiin pois", "tuotekuva jätetty pois", "Media jätetty pois",
            "media jätettiin pois", "live-sijainti jaettu",
        ),
        "deleted": ("Tämä viesti poistettiin", "Poistit tämän viestin"),
        "edited": ("Tätä viestiä on muokattu",),  # translated
        "system": (
            "Vastaamaton äänipuhelu", "Vastaamaton videopuhelu", "Vastaamaton ryhmä-äänipuhelu",
            "Vastaamaton ryhmävideopuhelu", "Odotetaan tätä viestiä. Tässä saattaa kestää hetki",
        ),
        "notice": (
            "Viestit ja puhelut salataan täysin",
            "Viestit tähän keskusteluun ja puhelut salataan nyt täysin",
            "Viestit tähän ryhmään salataan nyt täysin",
        ),
        "attached": ("<liite: %s>", "%s (liitetiedosto)"),
    },
    "French": {
        "media": (
            "image absente", "vidéo absente", "audio omis", "sticker omis", "GIF retiré",
            "document manquant", "Fiche contact manquante", "image produit oubliée",
            "Fichier omis", "Médias omis", "Média omis", "image omise", "vidéo omise",
            "Note vidéo omise", "Localisation en direct partagée",
        ),
        "deleted": ("Ce message a été supprimé", "Vous avez supprimé ce message"),
        "edited": ("Ce message a été modifié",),
        "system": (
            "Appel vocal manqué", "Appel vidéo manqué", "Appel vocal de groupe manqué",
            "Appel vidéo de groupe manqué",
            "En attente de ce message. Ceci pourrait prendre un moment", "SONDAGE :",
        ),
        "notice": (
            "Les messages et les appels sont chiffrés de bout en bout",
            "Les messages envoyés dans cette discussion et les appels",
            "Les messages envoyés dans ce groupe sont désormais protégés",
        ),
        "attached": ("< pièce jointe : %s >", "%s (fichier joint)", "<joint: %s>"),
    },
    "German": {
        "media": (
            "Bild weggelassen", "Video weggelassen", "Audio weggelassen", "Sticker weggelassen",
            "GIF weggelassen", "Dokument weggelassen", "Kontaktkarte ausgelassen",
            "Produktbild ausgelassen", "Medien weggelassen", "Medien ausgeschlossen",
            "Medien ausgelassen", "Videonotiz ausgelassen", "Live-Standort wird geteilt",
        ),
        "deleted": ("Diese Nachricht wurde gelöscht", "Du hast diese Nachricht gelöscht"),
        "edited": ("Diese Nachricht wurde bearbeitet",),
        "system": (
            "Verpasster Sprachanruf", "Verpasster Videoanruf", "Verpasster Gruppen-Sprachanruf",
            "Verpasster Gruppen-Videoanruf",
            "Warte auf diese Nachricht. Das kann einen Moment dauern", "UMFRAGE:",
        ),
        "notice": (
            "Nachrichten und Anrufe sind Ende-zu-Ende-verschlüsselt",
            "Nachrichten in diesem Chat sowie Anrufe sind jetzt mit",
            "Nachrichten an diese Gruppe sind jetzt mit",
        ),
        "attached": ("<Anhang: %s>", "%s (Datei angehängt)"),
    },
    "Greek": {
        "media": (
            "εικόνα παραλείφθηκε", "βίντεο παραλείφθηκε", "ήχος παραλείφθηκε",
            "αυτοκόλλητο παραλήφθηκε", "Παράληψη GIF", "έγγραφο παραλείφθηκε",
            "Η κάρτα επαφής παραλήφθηκε", "παραλείπεται η εικόνα προϊόντος", "Εξαίρεση πολυμέσων",
            "αρχείο παραλήφθηκε", "η τωρινή τοποθεσία κοινοποιήθηκε",
        ),
        "deleted": (
            "Αυτό το μήνυμα διαγράφηκε", "Διαγράψατε αυτό το μήνυμα", "Διαγράψατε το μήνυμα",
        ),
        "edited": ("Αυτό το μήνυμα τροποποιήθηκε",),  # translated
        "system": (
            "Αναπάντητη φωνητική κλήση", "Αναπάντητη βιντεοκλήση",
            "Αναπάντητη ομαδική φωνητική κλήση", "Αναπάντητη ομαδική βιντεοκλήση",
            "Αναμονή για αυτό το μήνυμα. Μπορεί να διαρκέσει λίγο", "Αναπάντητη κλήση",
            "Αναμονή για το μήνυμα. Αυτό μπορεί να διαρκέσει λίγο",
        ),
        "notice": (
            "Τα μηνύματα και οι κλήσεις κρυπτογραφούνται πλήρως",
            "Τα μηνύματα και οι κλήσεις προς αυτήν τη συνομιλία είναι",
            "Τα μηνύματα προς αυτήν την ομάδα είναι τώρα ασφαλή με",
        ),
        "attached": ("<επισυνάφθηκε: %s>", "%s (συνημμένο αρχείο)"),
    },
    "Gujarati": {
        "media": (
            "છબી પડતી મૂકાઈ", "વિડિયો પડતી મુકાઈ", "ઓડિયો ફાઇલ શામેલ કરી નથી",
            "સ્ટીકર પડતું મુકાયું", "GIF પડતી મૂકાઈ", "ડોક્યુમેન્ટ સામેલ કર્યું નહિ",
            "સંપર્કનું કાર્ડ પડતું મૂકાયું", "પ્રોડક્ટનો ફોટો બાકાત રાખ્યો", "મીડિયા અવગણાયું",
            "મિડિયા છોડી મૂકાયું", "જીવંત સ્થાન શેર કરાયું",
        ),
        "deleted": (
            "આ મેસેજ ડિલીટ કરાયો", "તમે આ મેસેજ ડિલીટ કર્યો", "આ સંદેશ રદ્દ કરાયો",
            "તમે આ સંદેશને રદ્દ કર્યો",
        ),
        "edited": ("આ મેસેજમાં ફેરફાર કરવામાં આવ્યો",),  # translated
        "system": (
            "છૂટી ગયેલો વોઇસ કૉલ", "છૂટી ગયેલ વિડિયો કૉલ", "છૂટી ગયેલાં ગ્રૂપ વોઇસ કૉલ",
            "છૂટી ગયેલો ગ્રૂપ વીડિયો કૉલ", "આ મેસેજની રાહ જોવાય છે. એમાં થોડી વાર લાગી શકે છે",
            "છૂટી ગયેલ ધ્વનિ કૉલ", "છૂટી ગયેલ વિડિઓ કૉલ",
            "આ સંદેશ માટે રાહ જોવાઈ રહી છે. આ માટે ક્ષણભર નો સમય લાગી શકે છે",
        ),
        "notice": (
            "મેસેજ અને કૉલ શરૂથી અંત સુધી સુરક્ષિત છે",
            "આ વાતના સંદેશાઓ અને કૉલ્સ હવે શરૂઆતથી અંત સુધી ગુપ્તીકરણ",
            "આ સમૂહના સંદેશાઓ હવે શરૂઆતથી અંત સુધી ગુપ્તીકરણ દ્વારા",
        ),
        "attached": ("<જોડાયેલ: %s>", "%s (ફાઇલ જોડાયેલ)"),
    },
    "Hebrew": {
        "media": (
            "התמונה הושמטה", "סרטון הווידאו הושמט", "קטע קול הושמט", "סטיקר הושמט", "GIF הושמט",
            "מסמך הושמט", "כרטיס איש קשר הושמט", "תמונת המוצר נשלחה", "מדיה הושמטה",
            "המדיה לא נכללה", "משתף מיקום בשידור חי",
        ),
        "deleted": ("הודעה זו נמחקה", "מחקת את ההודעה הזו", "מחקת הודעה זו"),
        "edited": ("ההודעה נערכה",),
        "system": (
            "שיחה קולית שלא נענתה", "שיחת וידאו שלא נענתה", "שיחה קולית קבוצתית שלא נענתה",
            "שיחת וידאו קבוצתית שלא נענתה", "בהמתנה להודעה זו. פעולה זו עשויה להימשך קצת זמן",
            "ממתין להודעה זו. פעולה זו עשויה להימשך מספר דקות",
        ),
        "notice": (
            "ההודעות והשיחות מוצפנות מקצה-לקצה",
            "כעת השיחות וההודעות הנשלחות בצ'אט זה מאובטחות עם הצפנה מקצה",
            "כעת ההודעות הנשלחות בקבוצה זו מאובטחות עם הצפנה מקצה לקצה",
        ),
        "attached": ("<מצורף: %s>", "%s (קובץ מצורף)"),
    },
    "Hindi": {
        "media": (
            "फ़ोटो हटाई गई", "वीडियो छोड़ा गया", "ऑडियो हटाई गयी", "स्टिकर छोड़ा गया",
            "GIF छोड़ा गया", "डॉक्यूमेंट छोड़ा गया", "कॉन्टैक्ट कार्ड छोड़ा गया",
            "प्रोडक्\u200dट की फ़ोटो हटाई गई", "मीडिया के बिना", "लाइव स्थान साझा किया गया",
        ),
        "deleted": (
            "यह मैसेज डिलीट कर दिया गया है", "आपने यह मैसेज डिलीट किया", "यह संदेश मिटाया गया",
            "आपने यह संदेश मिटाया",
        ),
        "edited": ("यह मैसेज एडिट किया गया",),  # translated
        "system": (
            "वॉइस कॉल मिस हुई", "मिस्ड वीडियो कॉल", "ग्रुप वॉइस कॉल मिस हुई",
            "मिस्ड ग्रुप वीडियो कॉल", "इस मैसेज को लोड होने में थोड़ा समय लग सकता है",
            "छूटी हुई ध्वनि कॉल", "छूटी हुई विडियो कॉल",
            "इस संदेश के लिए प्रतीक्षा कर रहे है. इसमें थोड़ा समय लग सकता है",
        ),
        "notice": (
            "मैसेजेस और कॉल्स एंड-टू-एंड एन्क्रिप्टेड हैं",
            "इस चैट और कॉल मे भेजे गए सन्देश शुरू से अंत तक एन्क्रिप्शन",
            "इस समूह में भेजे गए संदेश शुरू से अंत तक एन्क्रिप्शन से",
        ),
        "attached": ("<अटैच किया गया: %s>", "%s (फाइल अटैच कर दी गई है)"),
    },
    "Hungarian": {
        "media": (
            "kép küldése sikertelen", "Videó kihagyva", "Hang kihagyása", "matrica kihagyva",
            "GIF fájl kihagyása", "dokumentum kihagyva", "Névjegykártya kihagyva",
            "a termékkép hiányzik", "Hiányzó médiafájl", "média elhagyva",
            "tartózkodási hely megosztva",
        ),
        "deleted": (
            "Ez az üzenet törlésre került", "Ezt az üzenetet törölted", "Törölted ezt az üzenetet",
        ),
        "edited": ("Ezt az üzenetet szerkesztették",),  # translated
        "system": (
            "Nem fogadott hanghívás", "Nem fogadott videohívás",
            "Nem fogadott csoportos hanghívás", "Nem fogadott csoportos videohívás",
            "Várakozás az üzenetre. Ez eltarthat egy ideig", "Nem fogadott videóhívás",
        ),
        "notice": (
            "Az üzenetek és hívások végpontok közötti titkosítással",
            "Az ebben a csevegésben lévő üzenetek és hívások",
            "Az ebben a csoportban lévő üzenetek titkosítottak a",
        ),
        "attached": ("<csatolva: %s>", "%s (fájl csatolva)"),
    },
    "Indonesian": {
        "media": (
            "gambar tidak disertakan", "video tidak disertakan", "audio tidak disertakan",
            "stiker tidak disertakan", "GIF tidak disertakan", "dokumen tidak disertakan",
            "Kartu kontak tidak disertakan", "gambar produk dihilangkan", "Media tidak disertakan",
            "Lokasi terkini dibagikan",
        ),
        "deleted": (
            "Pesan ini dihapus", "Anda menghapus pesan ini", "Pesan ini telah dihapus",
            "Anda telah menghapus pesan ini",
        ),
        "edited": ("Pesan ini diedit", "Pesan ini telah diedit"),
        "system": (
            "Panggilan suara tak terjawab", "Panggilan video tak terjawab",
            "Panggilan suara grup tak terjawab", "Panggilan video grup tak terjawab",
            "Menunggu pesan ini. Ini mungkin membutuhkan waktu beberapa saat",
        ),
        "notice": (
            "Pesan dan panggilan terenkripsi secara end-to-end",
            "Pesan-pesan yang dikirimkan ke chat ini dan panggilan kini",
            "Pesan-pesan yang dikirimkan ke grup ini kini diamankan",
        ),
        "attached": ("<terlampir: %s>", "%s (file terlampir)"),
    },
    "Irish": {
        "media": (
            "íomhá ligthe ar lár", "físeán ligthe ar lár", "comhad fuaime ar lár",
            "fágadh an greamán ar lár", "GIF ligthe ar lár", "cáipéis ligthe ar lár",
            "Cárta teagmhála ar lár", "fágadh íomhá an táirge ar lár",
        ),
        "deleted": ("Scriosadh an teachtaireacht seo", "Scrios tú an teachtaireacht seo"),
        "edited": ("Cuireadh an teachtaireacht seo in eagar",),  # translated
        "system": (
            "Guthghlao caillte", "Físghlao caillte", "Guthghlao grúpa a cailleadh",
            "Físghlao grúpa a cailleadh",
            "Ag fanacht leis an teachtaireacht seo. Seans go dtógfaidh sé tamall",
        ),
        "notice": ("Déantar criptiúchán ó cheann go ceann ar theachtaireachtaí",),
        "attached": ("<ceangailte: %s>",),
    },
    "Italian": {
        "media": (
            "immagine omessa", "video omesso", "audio omesso", "sticker non incluso",
            "GIF esclusa", "documento omesso", "Scheda contatto omessa",
            "immagine del prodotto omessa", "Media omesso", "Media omessi", "Nota video omessa",
            "posizione attuale condivisa",
        ),
        "deleted": ("Questo messaggio è stato eliminato", "Hai eliminato questo messaggio"),
        "edited": ("Questo messaggio è stato modificato", "Messaggio modificato"),
        "system": (
            "Chiamata vocale persa", "Videochiamata persa", "Chiamata vocale di gruppo persa",
            "Videochiamata di gruppo persa",
            "In attesa del messaggio. Potrebbe volerci un po' di tempo", "SONDAGGIO:",
        ),
        "notice": (
            "I messaggi e le chiamate sono crittografati end-to-end",
            "I messaggi inviati a questa chat sono ora protetti con la",
            "I messaggi inviati a questo gruppo sono ora protetti con la",
        ),
        "attached": ("<allegato: %s>", "%s (file allegato)"),
    },
    "Japanese": {
        "media": (
            "画像は含まれていません", "ビデオは含まれていません", "音声は含まれていません", "スタンプは含まれていません", "GIFは含まれていません",
            "ドキュメントは含まれていません", "連絡先カードを省略", "商品画像は含まれていません", "メディアは含まれていません", "メディアなし",
            "ライブロケーション共有",
        ),
        "deleted": ("このメッセージは削除されました", "このメッセージを削除しました"),
        "edited": ("このメッセージは編集されました",),  # translated
        "system": (
            "音声通話不在着信", "ビデオ通話不在着信", "グループ音声通話不在着信", "グループビデオ通話不在着信",
            "メッセージを待っています。しばらく時間がかかることがあります", "不在着信",
        ),
        "notice": (
            "メッセージと通話はエンドツーエンド暗号化されています", "このチャットと通話へのメッセージは、エンドツーエンドの暗号化で保護されています",
            "このグループへのメッセージは、エンドツーエンドの暗号化で保護されています",
        ),
        "attached": ("<添付ファイル: %s>", "%s (添付ファイル有り)"),
    },
    "Kannada": {
        "media": ("ಮೀಡಿಯಾ ಕೈಬಿಡಲಾಗಿದೆ", "ಮಾಧ್ಯಮ ಕೈಬಿಡಲಾಗಿದೆ", "ನೇರ ಸ್ಥಳ ಹಂಚಿಕೊಳ್ಳಲಾಗಿದೆ"),
        "deleted": ("ಈ ಸಂದೇಶವು ಅಳಿಸಲ್ಪಟ್ಟಿದೆ", "ನೀವು ಈ ಸಂದೇಶವನ್ನು ಅಳಿಸಿದ್ದೀರಿ"),
        "edited": ("ಈ ಸಂದೇಶವನ್ನು ಎಡಿಟ್ ಮಾಡಲಾಗಿದೆ",),  # translated
        "system": (
            "ತಪ್ಪಿದ ಧ್ವನಿ ಕರೆ", "ತಪ್ಪಿದ ದೃಶ್ಯ ಕರೆ",
            "ಈ ಸಂದೇಶಕ್ಕಾಗಿ ಕಾಯಲಾಗುತ್ತಿದೆ. ಇದು ಸ್ವಲ್ಪ ಸಮಯ ತೆಗೆದುಕೊಳ್ಳಬಹುದು",
        ),
        "notice": (
            "ಈ ಪ್ರಸಾರಪಟ್ಟಿಯ ಸಂದೇಶಗಳು ಮತ್ತು ಕರೆಗಳು ಈಗ ಕೊನೆಯಿಂದ-ಕೊನೆವರೆಗೆ",
            "ಈ ಗುಂಪಿಗೆ ಸಂದೇಶಗಳು ಈಗ ಕೊನೆಯಿಂದ-ಕೊನೆವರೆಗೆ ಏನ್ಕ್ರಿಪ್ಷನ್ ನಿಂದ",
        ),
        "attached": ("%s (ಕಡತ ಸೇರಿಸಲಾಯಿತು)",),
    },
    "Kazakh": {
        "media": ("Файл қосылған жоқ", "файлдар қосылмаған", "қазіргі орынмен бөлісті"),
        "deleted": ("Бұл хат жойылды", "Сіз бұл хатты жойдыңыз"),
        "edited": ("Бұл хат өңделді",),  # translated
        "system": (
            "Жауапсыз қоңырау", "Жауапсыз видео қоңырау",
            "Осы хат күтілуде. Бұл біраз уақыт алуы мүмкін",
        ),
        "notice": (
            "Осы чатқа жөнелтілген хаттар және қоңыраулар толығымен",
            "Осы топқа жөнелтілген хаттар толығымен шифрлау арқылы",
        ),
        "attached": ("%s (қосымша файл)",),
    },
    "Korean": {
        "media": (
            "이미지 생략됨", "비디오 생략됨", "오디오 생략됨", "스티커 제외됨", "GIF 생략됨", "문서 생략됨", "연락처 카드 생략됨",
            "제품 이미지 생략됨", "미디어 파일을 생략한 대화내용", "미디어 파일 제외됨", "공유한 실시간 위치",
        ),
        "deleted": ("이 메시지는 삭제되었습니다", "삭제한 메시지입니다", "이 메시지를 삭제했습니다"),
        "edited": ("이 메시지는 편집되었습니다",),  # translated
        "system": (
            "부재중 전화", "부재중 영상통화", "부재중 그룹 통화", "부재중 그룹 영상통화", "메시지 암호화 대기중입니다. 다소 시간이 소요될 수 있습니다",
        ),
        "notice": (
            "메시지 및 전화는 종단간 암호화되어 안전합니다", "이 대화 및 통화의 메시지는 이제 종단간 암호화되어 안전합니다",
            "이 그룹의 메시지는 이제 종단간 암호화되어 안전합니다",
        ),
        "attached": ("< 첨부됨: %s>", "%s (파일 첨부됨)"),
    },
    "Latvian": {
        "media": ("Bez multivides", "nav iekļauta multivide", "reāllaika atrašanās vieta"),
        "deleted": ("Šī ziņa tika izdzēsta", "Jūs izdzēsāt šo ziņu"),
        "edited": ("Šī ziņa tika rediģēta",),  # translated
        "system": (
            "Neatbildēts balss zvans", "Neatbildēts video zvans",
            "Gaida ziņu. Tas var aizņemt kādu brīdi",
        ),
        "notice": (
            "Ziņas un zvani šajā sarakstē tagad ir aizsargāti ar pilnīgu",
            "Ziņas šajā grupā tagad ir aizsargātas ar pilnīgu šifrēšanu",
        ),
        "attached": ("%s (pievienots fails)",),
    },
    "Lithuanian": {
        "media": ("Praleistas medijos turinys", "medija praleista", "tiesioginė vieta bendrinama"),
        "deleted": ("Ši žinutė buvo ištrinta", "Jūs ištrynėte šią žinutę"),
        "edited": ("Ši žinutė buvo redaguota",),  # translated
        "system": (
            "Praleistas balso skambutis", "Praleistas video skambutis",
            "Laukiama šios žinutės. Tai gali užtrukti",
        ),
        "notice": (
            "Žinutės į šį pokalbį ir skambučiai dabar yra apsaugoti",
            "Žinutės į šią grupę dabar yra apsaugotos ištisiniu šifravimu",
        ),
        "attached": ("%s (byla prisegta)",),
    },
    "Macedonian": {
        "media": ("Без фајл", "без фајлови", "споделено локација во живо"),
        "deleted": ("Оваа порака беше избришана", "Ја избриша оваа порака"),
        "edited": ("Оваа порака беше уредена",),  # translated
        "system": (
            "Пропуштен гласовен повик", "Пропуштен видео повик",
            "Се чека пораката. Ова може да потрае",
        ),
        "notice": (
            "Пораките во овој разговор и повиците сега се обезбедени со",
            "Пораките до оваа група сега се обезбедени со шифрирање",
        ),
        "attached": ("%s (прикачен фајл)",),
    },
    "Malay": {
        "media": (
            "imej tidak dimasukkan", "video tidak dimasukkan", "audio tidak dimasukkan",
            "pelekat tidak disertakan", "GIF tidak dimasukkan", "dokumen tidak dimasukkan",
            "Kad kenalan tidak dimasukkan", "imej produk tidak disertakan", "Media disingkirkan",
            "media dikecualikan", "lokasi terkini dikongsi",
        ),
        "deleted": ("Mesej ini telah dipadam", "Anda telah memadamkan mesej ini"),
        "edited": ("Mesej ini telah disunting",),  # translated
        "system": (
            "Panggila suara terlepas", "Panggilan video terlepas", "Panggilan suara grup terlepas",
            "Panggilan video grup terlepas",
            "Menunggu untuk mesej ini. Ini mungkin mengambil seketika", "Panggilan suara terlepas",
            "Menunggu mesej ini. Ini akan mengambil masa",
        ),
        "notice": (
            "Mesej dan panggilan disulitkan hujung ke hujung",
            "Mesej-mesej ke sembang ini dan panggilan kini selamat",
            "Mesej-mesej ke grup ini kini selamat dengan penyulitan",
        ),
        "attached": ("<dilampir: %s>", "%s (fail dilampirkan)"),
    },
    "Malayalam": {
        "media": ("മീഡിയ ഒഴിവാക്കി", "ലൈവ് ലൊക്കേഷൻ പങ്കിട്ടു"),
        "deleted": ("ഈ സന്ദേശം ഇല്ലാതാക്കിയതാണ്", "ഈ സന്ദേശം നിങ്ങൾ ഇല്ലാതാക്കി"),
        "edited": ("ഈ സന്ദേശം എഡിറ്റ് ചെയ്തു",),  # translated
        "system": (
            "വിളി നഷ്ടപ്പെട്ടു", "നഷ്ടമായ വീഡിയോ കാൾ",
            "ഈ സന്ദേശത്തിനായി കാത്തിരിക്കുന്നു. കുറച്ചു സമയമെടുത്തേക്കാം",
        ),
        "notice": (
            "ഈ ചാറ്റിലേക്കും വിളിയിലേക്കുമുള്ള സന്ദേശങ്ങൾ ഇപ്പോൾ",
            "ഈ ഗ്രൂപ്പിലേക്കുള്ള സന്ദേശങ്ങൾ ഇപ്പോൾ ആദ്യാവസാന എൻക്രിപ്ഷൻ",
        ),
        "attached": ("%s (ഫയൽ ചേർത്തു)",),
    },
    "Marathi": {
        "media": (
            "इमेज वगळली", "व्हिडीओ वगळला", "ऑडिओ वगळला", "स्टिकर वगळले", "GIF वगळले",
            "डॉक्युमेंट वगळले", "संपर्क कार्ड वगळले", "प्रॉडक्ट इमेज वगळली", "मीडिया वगळले",
            "मीडिया वगळण्यात आला", "सध्याचे थेट ठिकाण शेअर केले",
        ),
        "deleted": (
            "हा मेसेज हटवण्यात आला", "तुम्ही हा मेसेज हटवला", "हा संदेश हटविण्यात आला होता",
            "आपण हा संदेश हटविलात",
        ),
        "edited": ("हा मेसेज संपादित केला",),  # translated
        "system": (
            "मिस्ड व्हॉइस कॉल", "मिस्ड व्हिडिओ कॉल", "मिस्ड ग्रुप व्हॉइस कॉल",
            "मिस्ड ग्रुप व्हिडिओ कॉल",
            "या मेसेजची प्रतीक्षा करत आहोत. यासाठी कदाचित थोडा वेळ लागू शकतो",
            "हा संदेश येण्याची वाट पाहत आहे. यासाठी थोडा वेळ लागू शकतो",
        ),
        "notice": (
            "मेसेजेस आणि कॉल्स एन्ड-टू-एन्ड एन्क्रिप्शनने सुरक्षित",
            "या गप्पांमधील संदेश आणि कॉल्स हे आता संपूर्णपणे कूटबद्ध",
            "या गटामधील संदेश आता संपूर्णपणे कूटबद्ध करून सुरक्षित",
        ),
        "attached": ("<संलग्न केले: %s>", "%s (फाइल संलग्न)"),
    },
    "Norwegian": {
        "media": (
            "bilde ikke inkludert", "video utelatt", "lyd utelatt", "klistremerke utelatt",
            "GIF utelatt", "utelatt dokument", "Kontaktkort sløyfet", "produktbilde utelatt",
            "Uten vedlegg", "Media utelatt", "posisjon i sanntid delt",
        ),
        "deleted": ("Denne meldingen ble slettet", "Du slettet denne meldingen"),
        "edited": ("Denne meldingen ble redigert",),  # translated
        "system": (
            "Tapt taleanrop", "Tapt videoanrop", "Tapt gruppetaleanrop", "Tapt gruppevideoanrop",
            "Venter på denne meldingen. Dette kan ta litt tid", "Tapt videosamtale",
            "Venter på denne meldingen. Dette kan ta en stund",
        ),
        "notice": (
            "Meldinger og samtaler er ende-til-ende-krypterte",
            "Meldinger til denne samtalen er nå kryptert fra ende til",
            "Meldinger til denne gruppen er nå kryptert fra ende til ende",
        ),
        "attached": ("<vedlagt: %s>", "%s (vedlagt fil)"),
    },
    "Persian": {
        "media": (
            "تصویر حذف شد", "ویدیو حذف شد", "صدا حذف شد", "استیکر حذف شد", "GIF حذف شد",
            "سند حذف شد", "برگ مخاطب حذف شد", "عکس کالا حذف شده است", "پيوست نما/آهنگ حذف شد",
            "رسانه حذف شد", "مکان زنده به اشتراک گذاشته شد",
        ),
        "deleted": ("این پیام حذف شده است", "شما این پیام را حذف کردید", "این پیام حذف شد"),
        "edited": ("این پیام ویرایش شد",),  # translated
        "system": (
            "تماس صوتی پاسخ داده نشده", "تماس تصویری بی\u200cپاسخ",
            "تماس صوتی گروهی پاسخ داده نشده", "تماس تصویری گروهی پاسخ داده نشده",
            "در انتظار برای این پیام. ممکن است قدری طول بکشد", "تماس تصویری پاسخ داده نشده",
        ),
        "notice": (
            "پیام\u200cها و تماس\u200cها سرتاسر رمزگذاری شده\u200cاند",
            "پیام ها و تماس های این چت هم اکنون با رمزگذاری سرتاسری",
            "پیام ها به این گروه هم اکنون با رمزگذاری سرتاسری محفوظ شده",
        ),
        "attached": ("<پیوست: %s>",),
    },
    "Polish": {
        "media": (
            "obraz pominięty", "wideo pominięte", "audio pominięte", "pominięto naklejkę",
            "Plik GIF pominięty", "dokument pominięty", "Pominięta wizytówka kontaktu",
            "zdjęcie produktu zostało pominięte", "pliki pominięto", "Pominięto multimedia",
            "udostępniona transmisja położenia",
        ),
        "deleted": (
            "Ta wiadomość została usunięta", "Usunąłeś(-ęłaś) tę wiadomość",
            "Usunąłeś(aś) tę wiadomość",
        ),
        "edited": ("Ta wiadomość została zmieniona",),
        "system": (
            "Nieodebrane poł. głosowe", "Nieodebrane poł. wideo", "Nieodebrane grup. poł. głosowe",
            "Nieodebrane grupowe poł. wideo",
            "Oczekiwanie na tę wiadomość. To może chwilę potrwać", "Nieodebrane połączenie",
        ),
        "notice": (
            "Wiadomości i połączenia są w pełni zaszyfrowane",
            "Wiadomości oraz połączenia w tym czacie są teraz",
            "Wiadomości do tej grupy są teraz zabezpieczone przez pełne",
        ),
        "attached": ("<załączono: %s>", "%s (załączony plik)", "%s (plik załączony)"),
    },
    "Portuguese (Brazil)": {
        "media": (
            "imagem ocultada", "vídeo omitido", "áudio ocultado", "figurinha omitida",
            "GIF omitido", "documento omitido", "Cartão do contato omitido",
            "imagem de produto omitida", "Mídia omitida", "Mídia oculta",
            "Arquivo de mídia oculto", "vídeo ocultado", "localização atual compartilhada",
        ),
        "deleted": ("Mensagem apagada", "Esta mensagem foi apagada", "Você apagou esta mensagem"),
        "edited": ("Mensagem editada",),
        "system": (
            "Chamada de voz perdida", "Chamada de vídeo perdida",
            "Chamada de voz em grupo perdida", "Chamada de vídeo em grupo perdida",
            "Aguardando mensagem. Essa ação pode levar alguns instantes",
            "Aguardando esta mensagem. Isso pode demorar um pouco", "ENQUETE:",
        ),
        "notice": (
            "As mensagens e as chamadas são protegidas com a",
            "As mensagens e chamadas desta conversa estão agora seguras",
            "As mensagens enviadas a este grupo estão agora protegidas",
        ),
        "attached": ("<anexado: %s>", "%s (arquivo anexado)"),
    },
    "Portuguese (Portugal)": {
        "media": (
            "imagem não revelada", "vídeo não revelado", "ficheiro de áudio não revelado",
            "sticker não revelado", "GIF não revelada", "documento não revelado",
            "Contacto não revelado", "imagem do produto não revelada", "Ficheiro não revelado",
            "Está a partilhar a sua localização",
        ),
        "deleted": (
            "Esta mensagem foi apagada", "Apagou esta mensagem",
            "Esta mensagem foi apagada pelo remetente",
        ),
        "edited": ("Mensagem editada",),  # translated
        "system": (
            "Chamada de voz perdida", "Videochamada perdida", "Chamada de voz em grupo perdida",
            "Videochamada em grupo perdida",
            "A aguardar pela mensagem. Isto pode demorar um pouco",
            "A aguardar pela mensagem. Pode demorar alguns minutos",
        ),
        "notice": (
            "As mensagens e chamadas são encriptadas ponto a ponto",
            "Nesta conversa, as mensagens que enviar e as chamadas que",
            "As mensagens que enviar a este grupo passarão a ser",
        ),
        "attached": ("<anexo: %s>", "%s (ficheiro anexado)"),
    },
    "Punjabi": {
        "media": ("ਮੀਡੀਆ ਛੱਡਿਆ ਗਿਆ", "ਮੀਡੀਆ ਛੱਡਿਆ", "ਮੌਜੂਦਾ ਟਿਕਾਣਾ ਸਾਂਝਾ ਕੀਤਾ"),
        "deleted": ("ਇਸ ਸੁਨੇਹੇ ਨੂੰ ਹਟਾਇਆ ਗਿਆ", "ਤੁਸੀਂ ਇਹ ਸੁਨੇਹਾ ਹਟਾਇਆ"),
        "edited": ("ਇਸ ਸੁਨੇਹੇ ਨੂੰ ਸੰਪਾਦਿਤ ਕੀਤਾ ਗਿਆ",),  # translated
        "system": (
            "ਮਿਸ ਹੋਈ ਆਵਾਜ਼ ਕਾਲ", "ਮਿਸ ਹੋਈ ਵੀਡੀਓ ਕਾਲ",
            "ਇਸ ਸੁਨੇਹੇ ਦੀ ਉਡੀਕ ਕੀਤੀ ਜਾ ਰਹੀ ਹੈ। ਇਸ ਨੂੰ ਕੁਝ ਸਮਾਂ ਲੱਗ ਸਕਦਾ ਹੈ",
        ),
        "notice": (
            "ਇਹ ਗੱਲਬਾਤ ਲਈ ਸੁਨੇਹੇ ਅਤੇ ਕਾਲਾਂ ਹੁਣ ਸਿਰੇ ਤੋਂ ਸਿਰੇ ਤੱਕ",
            "ਇਹ ਗਰੁੱਪ ਲਈ ਸੁਨੇਹੇ ਹੁਣ ਸਿਰੇ ਤੋਂ ਸਿਰੇ ਤੱਕ ਇੰਕ੍ਰਿਪਸ਼ਨ ਨਾਲ",
        ),
        "attached": ("%s (ਅਟੈਚ ਕੀਤੀ ਫਾਇਲ)",),
    },
    "Romanian": {
        "media": (
            "Imagine omisă", "clip video omis", "fără audio", "sticker omis", "GIF omis",
            "document omis", "Carte de vizită contact omisă", "imagine a produsului omisă",
            "Conținut media omis", "locație în timp real distribuită",
        ),
        "deleted": ("Acest mesaj a fost șters", "Ați șters acest mesaj"),
        "edited": ("Acest mesaj a fost editat",),  # translated
        "system": (
            "Apel vocal ratat", "Apel video ratat", "Apel vocal de grup ratat",
            "Apel video de grup ratat", "Se așteaptă mesajul. Procesul poate dura ceva timp",
            "Apel vocal nepreluat", "Apel video nepreluat",
            "În așteptarea mesajului. Procesul poate dura un timp",
        ),
        "notice": (
            "Mesajele și apelurile sunt criptate integral",
            "Mesajele către această conversație și apelurile sunt acum",
            "Mesajele către acest grup sunt acum securizate prin",
        ),
        "attached": ("<atașare: %s>", "%s (fișier atașat)"),
    },
    "Russian": {
        "media": (
            "изображение отсутствует", "видео отсутствует", "аудиофайл отсутствует",
            "стикер не добавлен", "GIF отсутствует", "документ отсутствует",
            "Карточка контакта отсутствует", "изображение товара отсутствует", "Файл пропущен",
            "Без медиафайлов", "Геоданные отправлены",
        ),
        "deleted": (
            "Данное сообщение удалено", "Вы удалили это сообщение", "Вы удалили данное сообщение",
        ),
        "edited": ("Сообщение изменено",),
        "system": (
            "Пропущенный аудиозвонок", "Пропущенный видеозвонок",
            "Пропущенный групповой аудиозвонок", "Пропущенный групповой видеозвонок",
            "Ожидание сообщения. Это может занять некоторое время",
        ),
        "notice": (
            "Сообщения и звонки защищены сквозным шифрованием",
            "Сообщения в данном чате и звонки теперь защищены сквозным",
            "Сообщения в данной группе теперь защищены сквозным",
        ),
        "attached": ("<прикреплено: %s>", "%s (файл добавлен)"),
    },
    "Serbian": {
        "media": ("медији су изостављени", "Локација уживо подељена"),
        "deleted": ("Ова порука је обрисана", "Обрисао/ла си ову поруку"),
        "edited": ("Ова порука је измењена",),  # translated
        "system": (
            "Пропуштен гласовни позив", "Пропуштен видео позив",
            "Чека се порука. Ово може потрајати",
        ),
        "notice": (
            "Поруке ка овом ћаскању и позиви су сада обезбеђени са",
            "Поруке ка овој групи су сада обезбеђене са шифровањем од",
        ),
        "attached": ("%s (прикачена датотека)",),
    },
    "Slovak": {
        "media": (
            "obrázok vynechaný", "video vynechané", "zvuk vynechaný", "nálepka vynechaná",
            "GIF vynechaný", "dokument vynechaný", "Karta kontaktu vynechaná",
            "obrázok produktu vynechaný", "Médiá vynechané", "bola zdieľaná aktuálna poloha",
        ),
        "deleted": ("Táto správa bola odstránená", "Túto správu ste odstránili"),
        "edited": ("Táto správa bola upravená",),  # translated
        "system": (
            "Zmeškaný hovor", "Zmeškaný videohovor", "Zmeškaný skupinový hovor",
            "Zmeškaný skupinový videohovor",
            "Čaká sa na túto správu. Táto akcia môže chvíľu trvať", "Zmeškaný hlasový hovor",
        ),
        "notice": (
            "Správy a hovory sú zabezpečené šifrovaním počas celého",
            "Hovory a správy v tomto chate sú teraz zabezpečené",
            "Správy pre túto skupinu sú teraz zabezpečené šifrovaním",
        ),
        "attached": ("<príloha: %s>", "%s (súbor pripojený)"),
    },
    "Slovenian": {
        "media": ("Medij izpuščen", "datoteke izpuščene", "lokacija v živo je bila deljena"),
        "deleted": ("To sporočilo je bilo izbrisano", "To sporočilo ste izbrisali"),
        "edited": ("To sporočilo je bilo urejeno",),  # translated
        "system": (
            "Zgrešen klic", "Neodgovorjen video klic",
            "Čakamo na to sporočilo. To bi lahko malce trajalo",
        ),
        "notice": (
            "Sporočila in klici v tem klepetu so sedaj zavarovani s",
            "Sporočila v tej skupini so sedaj zavarovana s šifriranjem",
        ),
        "attached": ("%s (priložena datoteka)",),
    },
    "Spanish": {
        "media": (
            "imagen omitida", "Video omitido", "audio omitido", "sticker omitido", "GIF omitido",
            "documento omitido", "Tarjeta de contacto omitida", "imagen del producto omitida",
            "Archivo omitido", "Multimedia omitido", "Medios omitidos", "Media omitida",
            "Nota de video omitida", "Nota de vídeo omitida", "ubicación en tiempo real compartida",
        ),
        "deleted": (
            "Se eliminó este mensaje", "Eliminaste este mensaje", "Este mensaje fue eliminado",
        ),
        "edited": ("Se editó este mensaje",),
        "system": (
            "Llamada perdida", "Videollamada perdida", "Llamada grupal perdida",
            "Videollamada grupal perdida", "Esperando el mensaje. Esto puede tomar tiempo",
            "Llamada de voz perdida", "ENCUESTA:",
        ),
        "notice": (
            "Los mensajes y las llamadas están cifrados de extremo a",
            "Los mensajes y llamadas en este chat ahora están protegidos",
            "Los mensajes en este grupo ahora están protegidos con",
        ),
        "attached": ("<adjunto: %s>", "%s (archivo adjuntado)", "%s (archivo adjunto)"),
    },
    "Swahili": {
        "media": ("Media imerukwa", "media hazijajumuishwa", "mahali mubashara pameshirikishwa"),
        "deleted": ("Ujumbe huu ulifutwa", "Umefuta ujumbe huu"),
        "edited": ("Ujumbe huu ulihaririwa",),  # translated
        "system": (
            "Simu ya sauti uliyoikosa", "Simu ya video uliyoikosa",
            "Inasubiri ujumbe huu. Hii inaweza ikachukua muda",
        ),
        "notice": (
            "Jumbe kwenye soga hii na simu unazopiga sasa zipo salama",
            "Jumbe kwenye kikundi hiki sasa zipo salama kwa ufumbaji wa",
        ),
        "attached": ("%s (faili limeambatanishwa)",),
    },
    "Swedish": {
        "media": (
            "bild utesluten", "video utesluten", "ljud utelslutet", "sticker utesluten",
            "GIF utesluten", "dokument uteslutet", "Kontaktkort uteslutet",
            "produktbild utelämnad", "Media har utelämnats", "Media utelämnat",
            "liveposition delad",
        ),
        "deleted": (
            "Det här meddelandet raderades", "Du har tagit bort meddelandet",
            "Du raderade det här meddelandet", "Detta meddelande raderades",
            "Du raderade detta meddelande",
        ),
        "edited": ("Det här meddelandet har redigerats",),  # translated
        "system": (
            "Missat röstsamtal", "Missat videosamtal", "Missat gruppröstsamtal",
            "Missat gruppvideosamtal", "Väntar på meddelande. Detta kan ta en stund",
            "Väntar på detta meddelande. Detta kan ta en stund",
        ),
        "notice": (
            "Meddelanden och samtal är komplett krypterade",
            "Meddelanden till denna chatt och samtal är nu säkrade med",
            "Meddelanden till denna grupp är nu säkrade med komplett",
        ),
        "attached": ("<bifogat: %s>", "%s (bifogad fil)"),
    },
    "Tamil": {
        "media": ("ஊடகங்கள் நீக்கப்பட்டது", "கோப்புகள் விடப்பட்டன", "இடம் நேரலையாக பகிரபட்டது"),
        "deleted": ("இத்தகவல் திரும்பப்பெறப்பட்டது", "இத்தகவலை தாங்கள் அழித்தீர்கள்"),
        "edited": ("இந்த மெசேஜ் திருத்தப்பட்டது",),  # translated
        "system": (
            "தவறிய குரல் அழைப்பு", "தவறிய காணொலி அழைப்பு",
            "இத்தகவலுக்கு காத்திருக்கிறோம். சற்று நேரமாகலாம்",
        ),
        "notice": (
            "இந்த அரட்டை மற்றும் அழைப்பு முழு மறையாக்கத்துடன்",
            "இக்குழுவிற்கு தாங்கள் அனுப்பும் தகவல்கள் முழு",
        ),
    },
    "Telugu": {
        "media": (
            "మాధ్యమం విస్మరించబడింది", "మీడియా విస్మరించబడింది", "ప్రత్యక్ష స్థాన భాగస్వామ్యం",
        ),
        "edited": ("ఈ సందేశం సవరించబడింది",),  # translated
        "system": (
            "మిస్సేడ్ వాయిస్ కాల్", "తప్పిన వీడియోకాల్",
            "సందేశం కోసం ఎదురుచూస్తున్నాం. కొంత సమయం పట్టచ్చు",
        ),
        "notice": (
            "ఈ చాట్ కు సందేశాలు మరియు కాల్స్ ఇప్పుడు ఎండ్ టు ఎండ్",
            "ఈ వర్గానికి సందేశాలు ఇప్పుడు ఎండ్ టు ఎండ్ ఎన్క్రిప్షన్ తో",
        ),
        "attached": ("%s (ఫైల్ జోడించబడినది)",),
    },
    "Thai": {
        "media": (
            "ไม่มีรูปภาพ", "วิดีโอถูกลบ", "ไม่มีไฟล์เสียง", "ไม่มีสติกเกอร์", "ละเว้น GIF",
            "ละเว้นเอกสาร", "บัตรรายชื่อที่ละเว้น", "ไม่ได้ใส่รูปผลิตภัณฑ์", "สื่อถูกลบ",
            "ไฟล์สื่อถูกลบ", "ตำแหน่งปัจจุบันถูกแบ่งปัน",
        ),
        "deleted": (
            "ข้อความนี้ถูกลบแล้ว", "คุณได้ลบข้อความนี้", "ข้อความนี้ได้ถูกลบ", "คุณลบข้อความนี้",
        ),
        "edited": ("ข้อความนี้ถูกแก้ไขแล้ว",),  # translated
        "system": (
            "สายที่ไม่ได้รับ", "วิดีโอคอลที่ไม่ได้รับ", "สายโทรเสียงแบบกลุ่มที่ไม่ได้รับ",
            "วิดีโอคอลกลุ่มที่ไม่ได้รับ", "กำลังรอข้อความนี้ อาจใช้เวลาสักครู่",
            "สายโทรวิดีโอที่ไม่ได้รับ",
        ),
        "notice": (
            "ข้อความและการโทรได้รับการเข้ารหัสจากต้นทางถึงปลายทาง",
            "ข้อความที่ส่งถึงแชทและการโทรนี้ขณะนี้มีความปลอดภัยด้วยการเข้",
            "ข้อความที่คุณส่งถึงกลุ่มนี้ขณะนี้มีความปลอดภัยด้วยการเข้ารหั",
        ),
        "attached": ("<แนบ: %s>", "%s (ไฟล์ที่แนบ)"),
    },
    "Turkish": {
        "media": (
            "görüntü dahil edilmedi", "video dahil edilmedi", "ses dahil edilmedi",
            "Çıkartma dahil edilmedi", "GIF dahil edilmedi", "belge dahil edilmedi",
            "Kişi kartı dahil edilmedi", "ürün görseli dahil edilmedi", "Medya atlanmış",
            "Medya dahil edilmedi", "Mevcut konum paylaşıldı",
        ),
        "deleted": ("Bu mesaj silindi", "Bu mesajı sildiniz"),
        "edited": ("Bu mesaj düzenlendi",),
        "system": (
            "Cevapsız sesli arama", "Cevapsız görüntülü arama", "Cevapsız sesli grup araması",
            "Cevapsız görüntülü grup araması", "Mesaj bekleniyor. Bu biraz zaman alabilir",
            "ANKET:",
        ),
        "notice": (
            "Mesajlar ve aramalar uçtan uca şifrelidir",
            "Bu sohbete gönderdiğiniz mesajlar ve yaptığınız aramalar",
            "Bu gruba gönderdiğiniz mesajlar artık uçtan uca şifreleme",
        ),
        "attached": ("<%s eklendi>", "%s (dosya ekli)"),
    },
    "Ukrainian": {
        "media": (
            "зображення відсутнє", "відео відсутнє", "аудіо відсутнє", "Наклейку не додано",
            "GIF-анімацію пропущено", "документ пропущено", "Картка контакту відсутня",
            "зображення продукту пропущено", "Медіа пропущено", "геодані надіслано",
        ),
        "deleted": ("Це повідомлення було видалено", "Ви видалили це повідомлення"),
        "edited": ("Це повідомлення відредаговано",),  # translated
        "system": (
            "Пропущений аудіодзвінок", "Пропущений відеодзвінок",
            "Пропущений груповий аудіодзвінок", "Пропущений груповий відеодзвінок",
            "Очікування повідомлення. Це може зайняти деякий час",
        ),
        "notice": (
            "Повідомлення й дзвінки захищено наскрізним шифруванням",
            "Повідомлення у цій бесіді та дзвінки тепер захищено",
            "Повідомлення у цій групі тепер захищено наскрізним",
        ),
        "attached": ("<додано: %s>", "%s (файл додано)"),
    },
    "Urdu": {
        "media": (
            "تصویر نکال دی گئی ہے", "ویڈیو نظرانداز", "آڈیو نظرانداز", "اسٹیکر نظرانداز",
            "GIF  نظرانداز", "دستاویز نظرانداز", "رابطہ کارڈ نظر انداز",
            "پروڈکٹ کی تصویر نکال دی گئی ہے", "میڈیا چھوڑ دیا گیا", "میڈیا ہٹا دیا گیا",
            "GIF نظرانداز", "جاری مقام کا اشتراک ہوا",
        ),
        "deleted": (
            "یہ میسج حذف کر دیا گیا ہے", "آپ نے یہ میسج حذف کر دیا ہے", "یہ پیغام حذف کیا گیا",
            "آپ نے اس پیغام کو حذف کیا",
        ),
        "edited": ("اس میسج میں ترمیم کی گئی",),  # translated
        "system": (
            "مسڈ وائس کال", "مسڈ ویڈیو کال", "مسڈ گروپ وائس کال", "مسڈ گروپ ویڈیو کال",
            "اس میسج کا انتظار ہے۔ اس میں کچھ وقت لگ سکتا ہے", "چھوٹی ہوئی صوتی کال",
            "چھوٹی ہوئی ویڈیو کال", "اس پیغام کا انتظار ہے۔ اس میں کچھ وقت لگ سکتا ہے",
        ),
        "notice": (
            "میسجز اور کالز اینڈ ٹو اینڈ اینکرپشن کے ذریعے محفوظ ہیں",
            "اس بات چیت کے پیغامات اور کالس شروع سے آخر تک رمزکاری کے",
            "اس گروپ کے پیغامات اب شروع سے آخر تک رمزکاری کے ذریعے محفوظ",
        ),
        "attached": ("<پیوستہ: %s>", "%s (پیوستہ فائل)"),
    },
    "Uzbek": {
        "media": ("Fayl o‘tkazib yuborildi", "jonli joylashuv ulashildi"),
        "deleted": ("Ushbu xabar o‘chirildi", "Siz ushbu xabarni o‘chirdingiz"),
        "edited": ("Ushbu xabar tahrirlandi",),  # translated
        "system": (
            "O‘tkazib yub. ovozli qo‘ng‘iroq", "O‘tkazib yub. videoqo‘ng‘iroq",
            "Ushbu xabar kutilmoqda. Bu bir oz vaqtni olishi mumkin",
        ),
        "notice": (
            "Ushbu chatdagi xabarlar va qo‘ng‘iroqlar endi boshidan",
            "Ushbu guruhdagi xabarlar endi boshidan oxirigacha shifrlash",
        ),
        "attached": ("%s (fayl biriktirildi)",),
    },
    "Vietnamese": {
        "media": (
            "đã bỏ qua hình ảnh", "đã bỏ video", "bỏ qua tệp âm thanh", "đã bỏ sticker",
            "Đã bỏ qua ảnh GIF", "đã bỏ qua tài liệu", "Bỏ qua thẻ liên lạc", "đã bỏ ảnh sản phẩm",
            "Bỏ qua Media", "bỏ qua tệp phương tiện", "vị trí hiện thời được chia sẻ",
        ),
        "deleted": (
            "Tin nhắn này đã bị xóa", "Bạn đã xóa tin nhắn này", "Bạn đã xoá tin nhắn này",
            "Tin nhắn này đã bị xoá",
        ),
        "edited": ("Tin nhắn này đã được chỉnh sửa",),  # translated
        "system": (
            "Cuộc gọi nhỡ", "Cuộc gọi nhỡ video", "Cuộc gọi nhỡ nhóm",
            "Cuộc gọi nhỡ video nhóm",
            "Đang chờ ghi chú thanh toán này. Bạn có thể phải chờ một lúc",
            "Đang chờ tin nhắn này. Có thể mất một lúc",
        ),
        "notice": (
            "Tin nhắn và cuộc gọi được mã hóa đầu cuối",
            "Các tin nhắn gửi tới cuộc trò chuyện này và các cuộc gọi đã",
            "Những tin nhắn gửi tới nhóm này được bảo mật với mã hoá",
        ),
        "attached": ("<đính kèm: %s>", "%s (tệp đính kèm)"),
    },
}
